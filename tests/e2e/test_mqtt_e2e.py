"""`appliance serve` on a real Mosquitto: a person walks across a file camera's scene (4 s of
every 12) over a counting line and through a zone. A real subscriber sees availability, the
events, the counts, the snapshot and Home Assistant's discovery; the broker restarting; and
the last will when the service is killed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
from helpers import start_server
from support.mosquitto import Mosquitto, Subscriber, retained_messages

from appliance.devtools.visits import write_visit_clip

DOOR = {"points": [[0.5, 0.0], [0.5, 1.0]]}
HALL = {"points": [[0.0, 0.0], [0.45, 0.0], [0.45, 1.0], [0.0, 1.0]]}


def test_the_service_reports_to_mqtt_and_home_assistant(tmp_path: Path) -> None:
    visit = write_visit_clip(tmp_path / "visit.avi")
    camera = {
        "id": "door",
        "name": "Front door",
        "uri": f"file://{visit.path}",
        "lines": {"entry": DOOR},
        "zones": {"hall": HALL},
    }
    root = tmp_path / "serve"
    root.mkdir()
    broker = Mosquitto(tmp_path / "mosquitto")  # anonymous: the credentials are only carried
    broker.start()
    env = {"APPLIANCE_MQTT_URL": broker.url("appliance", "s3cret-pass")}
    listener = Subscriber(broker.port, "#")
    try:
        with listener as sub, start_server(root, [camera], env=env) as server:
            sub.wait_for("appliance/available", b"online", retain=False, timeout_s=15)
            new = sub.wait(lambda m: _event(m, "new"), timeout_s=30)
            end = sub.wait(lambda m: _event(m, "end"), timeout_s=30)
            in_view = sub.wait_for("appliance/door/person", b"1", timeout_s=5)
            gone = sub.wait_for("appliance/door/person", b"0", after=in_view.at, timeout_s=15)
            snapshot = sub.wait_for("appliance/door/person/snapshot", timeout_s=15)
            sub.wait(lambda m: m.topic == "appliance/door/lines/entry/in/person", timeout_s=30)
            sub.wait(lambda m: m.topic == "appliance/door/hall/person", timeout_s=5)
            retained = retained_messages(
                broker.port, "homeassistant/#", "appliance/#", settle_s=0.5
            )
            with httpx.Client(base_url=server.url) as http:
                system = http.get("/v1/system").json()["mqtt"]

            # the broker restarts (persistence off: it forgot everything) and comes back
            broker.stop()
            time.sleep(1.0)
            with httpx.Client(base_url=server.url) as http:
                down = http.get("/v1/system").json()["mqtt"]
                assert http.get("/v1/events").status_code == 200  # the API does not care
            broker.start()
            with Subscriber(broker.port, "appliance/available") as watcher:  # reconnect backoff
                watcher.wait_for("appliance/available", b"online", timeout_s=90)
            discovery = {t for t in retained if t.startswith("homeassistant/")}
            back = _retained_once_complete(broker.port, discovery, timeout_s=60)
            log = server.log_text()

            # killed, the service's last will says so
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            with Subscriber(broker.port, "appliance/available") as late:
                late.wait_for("appliance/available", b"offline", timeout_s=60)
    finally:
        broker.stop()

    after = json.loads(end.payload)["after"]
    assert json.loads(new.payload)["after"]["label"] == "person"
    assert after["camera"] == "door" and after["end_time"] > after["start_time"]
    assert set(after) >= {"id", "top_score", "box", "zones", "has_snapshot", "has_clip"}
    assert gone.retain is False and snapshot.payload[:2] == b"\xff\xd8"  # a JPEG
    assert retained["appliance/available"] == b"online"
    assert retained["appliance/door/person/snapshot"][:2] == b"\xff\xd8"

    configs = {t: json.loads(p) for t, p in retained.items() if t.startswith("homeassistant/")}
    kinds = {t.split("/")[1] for t in configs}
    assert {"sensor", "binary_sensor", "image"} <= kinds
    for config in configs.values():
        assert config["availability_topic"] == "appliance/available"
        assert config["device"]["identifiers"] and config["unique_id"]
    topics = {c.get("state_topic") or c.get("image_topic") for c in configs.values()}
    assert "appliance/door/person" in topics
    assert "appliance/door/hall/person" in topics
    assert "appliance/door/lines/entry/in/person" in topics

    assert system["state"] == "connected" and system["broker"] == f"127.0.0.1:{broker.port}"
    assert down["state"] in ("disconnected", "connecting", "error")
    assert back.get("appliance/available") == b"online"
    assert back.keys() >= configs.keys()  # discovery and state sent again
    assert "s3cret-pass" not in log and "s3cret-pass" not in json.dumps(system)


def _retained_once_complete(port: int, wanted: set[str], timeout_s: float) -> dict[str, bytes]:
    """The broker's retained messages once every topic in `wanted` is back (re-sent in
    windows of unacknowledged messages: on a busy machine that takes a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        back = retained_messages(port, "homeassistant/#", "appliance/#", settle_s=1)
        if wanted <= back.keys() or time.monotonic() > deadline:
            return back
        time.sleep(1.0)


def _event(message: object, kind: str) -> bool:
    if getattr(message, "topic", None) != "appliance/events":
        return False
    body = json.loads(message.payload)  # type: ignore[attr-defined]
    return body["type"] == kind and body["after"]["label"] == "person"
