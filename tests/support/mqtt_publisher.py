"""An MqttPublisher in its own process, until killed: the last-will test SIGKILLs it.

    python tests/support/mqtt_publisher.py URL PREFIX KEEPALIVE_S

Prints "online" once connected, then idles.
"""

from __future__ import annotations

import sys
import time

from appliance.mqtt.client import MqttPublisher
from appliance.mqtt.settings import parse_mqtt_url
from appliance.mqtt.topology import DeviceInfo


def main() -> None:
    url, prefix, keepalive = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = DeviceInfo("child", "Child appliance", "0")
    publisher = MqttPublisher(
        parse_mqtt_url(url), device, prefix=prefix, client_id="child", keepalive_s=keepalive
    )
    publisher.start()
    while publisher.status().state != "connected":
        time.sleep(0.02)
    print("online", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
