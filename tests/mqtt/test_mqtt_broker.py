"""MqttPublisher against a real Mosquitto on loopback, checked by a real paho subscriber:
retained state, discovery, the last will of a killed process, a broker restart, refused
credentials, removals and back-pressure."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger
from support.mosquitto import ROOT, Mosquitto, Subscriber, mosquitto_available, retained_messages

from appliance.auth.tls import make_self_signed
from appliance.devtools.server import free_port
from appliance.mqtt.client import MqttPublisher
from appliance.mqtt.topology import CameraTopology, DeviceInfo, Topology

DEVICE = DeviceInfo("t3st", "Test appliance", "9.9.9")
TOPOLOGY = Topology(
    {
        "front_door": CameraTopology(
            labels=("person", "traffic light"), zones=("yard",), lines=("gate",), name="Front door"
        ),
        "garage": CameraTopology(labels=("car",), zones=("drive",), lines=("door",)),
    }
)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
EVENT = {"id": "1700000000.000000-abc123", "camera": "front_door", "label": "person"}
HA = "homeassistant"


def until(check: Callable[[], bool], timeout_s: float = 10, step_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step_s)


@pytest.fixture
def publishers() -> Iterator[Callable[..., MqttPublisher]]:
    """Builds started publishers and closes them all after the test."""
    made: list[MqttPublisher] = []

    def make(url: str, **kwargs: object) -> MqttPublisher:
        kwargs.setdefault("reconnect_delay_s", (1, 2))
        publisher = MqttPublisher.from_url(url, DEVICE, **kwargs)
        publisher.start()
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close(timeout_s=5)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Everything loguru writes during the test, fully formatted (with exceptions)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE", backtrace=True, diagnose=True)
    yield lines
    logger.remove(sink)


def assert_never_blocked(took: list[float]) -> None:
    """Calls that return at once: blocked on the network they would take seconds. The bounds
    leave room for a busy 2-core CI machine."""
    took = sorted(took)
    p50, p99, worst = took[len(took) // 2], took[int(len(took) * 0.99)], took[-1]
    print(
        f"publish calls: p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {worst * 1e3:.1f} ms"
    )
    assert p50 < 0.002 and p99 < 0.05 and worst < 0.5, (p50, p99, worst)


def connected(publisher: MqttPublisher) -> Callable[[], bool]:
    return lambda: publisher.status().state == "connected"


def publish_state(publisher: MqttPublisher, person: int = 2) -> None:
    publisher.publish_presence("front_door", {"person": person, "traffic light": 1})
    publisher.publish_zone("front_door", "yard", {"person": 1})
    publisher.publish_line("front_door", "gate", "in", {"person": 7, "traffic light": 0})
    publisher.publish_snapshot("front_door", "person", JPEG)


def test_online_retained_state_for_a_late_subscriber_and_live_events(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    with Subscriber(mosquitto.port, "appliance/#") as live:
        publisher = publishers(mosquitto.url())
        publisher.announce(TOPOLOGY)
        publish_state(publisher)
        online = live.wait_for("appliance/available", b"online")
        assert online.retain is False  # live delivery; the late subscriber sees the flag below
        live.wait_for("appliance/front_door/person/snapshot", JPEG)

        publisher.publish_event("new", None, EVENT)
        ended = {**EVENT, "end_time": 1700000005.0}
        publisher.publish_event("end", EVENT, ended)
        first = json.loads(live.wait_for("appliance/events").payload)
        assert first == {"type": "new", "before": EVENT, "after": EVENT}
        live.wait(lambda m: m.topic == "appliance/events" and b'"end"' in m.payload)

        retained = retained_messages(mosquitto.port, "appliance/#")
    assert retained["appliance/available"] == b"online"
    assert retained["appliance/front_door/person"] == b"2"
    assert retained["appliance/front_door/traffic light"] == b"1"
    assert retained["appliance/front_door/all"] == b"3"
    assert retained["appliance/front_door/yard/person"] == b"1"
    assert retained["appliance/front_door/yard/traffic light"] == b"0"  # started at 0
    assert retained["appliance/front_door/lines/gate/in/person"] == b"7"
    assert retained["appliance/front_door/lines/gate/in/traffic light"] == b"0"
    assert retained["appliance/front_door/person/snapshot"] == JPEG
    assert retained["appliance/garage/car"] == b"0"
    assert "appliance/events" not in retained  # events are not retained
    assert publisher.status().dropped == 0


def test_counts_publish_changes_only_and_missing_labels_drop_to_zero(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    with Subscriber(mosquitto.port, "appliance/front_door/+") as live:
        publisher = publishers(mosquitto.url())
        until(connected(publisher))
        publisher.publish_presence("front_door", {"person": 2, "dog": 1})
        live.wait_for("appliance/front_door/dog", b"1")
        publisher.publish_presence("front_door", {"person": 2, "dog": 1})  # no change: nothing
        publisher.publish_presence("front_door", {"person": 1})  # the dog left
        live.wait_for("appliance/front_door/dog", b"0")
        live.wait_for("appliance/front_door/all", b"1")
        time.sleep(0.3)
    person = [m.payload for m in live.messages if m.topic == "appliance/front_door/person"]
    assert person == [b"2", b"1"]


def test_discovery_payloads_home_assistant_accepts(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    publisher = publishers(mosquitto.url())
    publisher.announce(TOPOLOGY)
    with Subscriber(mosquitto.port, f"{HA}/#") as live:
        until(lambda: len(live.messages) >= 2 * 2 + 3 * 2 + 3 + 2 * 3)
    configs = retained_messages(mosquitto.port, f"{HA}/#")
    # per camera occupancy + all; per label count + image; zones x labels; lines x 2 x labels
    assert len(configs) == 2 * 2 + 3 * 2 + (2 + 1) + (2 * 2 + 2)
    state = retained_messages(mosquitto.port, "appliance/#")
    for topic, payload in configs.items():
        config = json.loads(payload)
        component = topic.split("/")[1]
        assert {"name", "unique_id", "device", "availability_topic"} <= config.keys(), topic
        assert config["availability_topic"] == "appliance/available"
        assert config["device"]["identifiers"] == ["appliance_t3st"]
        assert config["device"]["name"] == "Test appliance"
        if component == "image":
            assert config["content_type"] == "image/jpeg"
        else:
            assert config["state_topic"].startswith("appliance/")
            if "/lines/" not in config["state_topic"]:
                assert config["state_topic"] in state, "counts in view start at 0, not unknown"
    assert len({json.loads(p)["unique_id"] for p in configs.values()}) == len(configs)


def test_removal_deletes_configs_and_state(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    publisher = publishers(mosquitto.url())
    publisher.announce(TOPOLOGY)
    publish_state(publisher)
    publisher.publish_presence("garage", {"car": 1})
    publisher.publish_snapshot("garage", "car", JPEG)
    until(
        lambda: (
            "appliance/garage/car/snapshot"
            in retained_messages(mosquitto.port, "appliance/#", settle_s=0.1)
        )
    )

    smaller = Topology(
        {"front_door": CameraTopology(labels=("person",), zones=(), lines=("gate",))}
    )
    with Subscriber(mosquitto.port, "#") as live:
        publisher.announce(smaller)
        live.wait_for(f"{HA}/image/appliance_t3st/garage_car_snapshot/config", b"")
        live.wait_for(f"{HA}/sensor/appliance_t3st/front_door_zone_yard_person_count/config", b"")
        live.wait_for("appliance/garage/car/snapshot", b"")
    configs = retained_messages(mosquitto.port, f"{HA}/#")
    object_ids = sorted(topic.split("/")[3] for topic in configs)
    assert object_ids == [
        "front_door_all_count",
        "front_door_line_gate_in_person_count",
        "front_door_line_gate_out_person_count",
        "front_door_occupancy",
        "front_door_person_count",
        "front_door_person_snapshot",
    ]
    state = retained_messages(mosquitto.port, "appliance/#")
    assert not [t for t in state if t.startswith("appliance/garage/")]
    assert "appliance/front_door/yard/person" not in state
    assert "appliance/front_door/traffic light" not in state  # no longer a label of the camera
    assert state["appliance/front_door/person"] == b"2"
    assert state["appliance/front_door/lines/gate/in/person"] == b"7"


def test_configs_an_earlier_run_left_are_deleted(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    first = publishers(mosquitto.url(), client_id="first")
    first.announce(TOPOLOGY)
    first.publish_presence("garage", {"car": 1})
    until(lambda: len(retained_messages(mosquitto.port, f"{HA}/#", settle_s=0.1)) == 19)
    first.close()

    later = publishers(mosquitto.url(), client_id="later")
    until(connected(later))
    time.sleep(0.5)  # the broker has handed over the old configs; nothing judged them yet
    assert len(retained_messages(mosquitto.port, f"{HA}/#")) == 19
    later.announce(Topology({"front_door": TOPOLOGY.cameras["front_door"]}))
    until(lambda: len(retained_messages(mosquitto.port, f"{HA}/#", settle_s=0.1)) == 12)
    assert "appliance/garage/car" not in retained_messages(mosquitto.port, "appliance/#")


@pytest.mark.parametrize(
    ("sig", "within"),
    [
        (signal.SIGKILL, (0.0, 2.0)),  # the kernel closes the socket: the broker knows at once
        # frozen, socket open: 1.5 x the 2 s keepalive, checked by mosquitto 2.0 about every
        # few seconds (5 s measured here)
        (signal.SIGSTOP, (2.0, 9.0)),
    ],
)
def test_last_will_when_the_process_dies_or_freezes(
    mosquitto: Mosquitto, sig: signal.Signals, within: tuple[float, float]
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    script = ROOT / "tests/support/mqtt_publisher.py"
    child = subprocess.Popen(
        [sys.executable, str(script), mosquitto.url(), "kid", "2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "online"
        with Subscriber(mosquitto.port, "kid/available") as sub:
            sub.wait_for("kid/available", b"online", retain=True)
            child.send_signal(sig)  # no DISCONNECT: the broker must notice by itself
            signalled = time.monotonic()
            offline = sub.wait_for("kid/available", b"offline", timeout_s=12)
        print(f"offline {offline.at - signalled:.2f} s after {sig.name}")
        assert within[0] <= offline.at - signalled < within[1]
        assert retained_messages(mosquitto.port, "kid/available") == {"kid/available": b"offline"}
    finally:
        child.send_signal(signal.SIGCONT)
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def test_close_publishes_offline_retained(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    publisher = publishers(mosquitto.url())
    until(connected(publisher))
    for i in range(200):  # events in flight must not push `offline` out
        publisher.publish_event("update", EVENT, {**EVENT, "top_score": i / 200})
    started = time.monotonic()
    publisher.close(timeout_s=5)
    assert time.monotonic() - started < 2
    assert retained_messages(mosquitto.port, "appliance/available") == {
        "appliance/available": b"offline"
    }
    status = publisher.status()
    assert status.state == "disconnected"
    publisher.publish_event("new", None, EVENT)  # after close: dropped, not raised
    publisher.publish_presence("front_door", {"person": 1})
    assert publisher.status().dropped == status.dropped + 1


def test_broker_restart_brings_online_discovery_and_state_back(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    publisher = publishers(mosquitto.url())
    publisher.announce(TOPOLOGY)
    publish_state(publisher)
    until(
        lambda: (
            "appliance/front_door/person/snapshot"
            in retained_messages(mosquitto.port, "appliance/#", settle_s=0.1)
        )
    )

    mosquitto.stop()
    until(lambda: publisher.status().state == "disconnected", timeout_s=5)
    assert publisher.status().last_error in (
        "connection lost",
        f"cannot connect to {publisher.status().broker}: connection refused",
    )
    took = []
    for i in range(100):  # the broker is gone: nothing blocks, nothing raises
        started = time.monotonic()
        publisher.publish_presence("front_door", {"person": 3 + i % 2})
        publisher.publish_event("update", EVENT, {**EVENT, "top_score": 0.9})
        publisher.publish_snapshot("front_door", "car", JPEG)
        took.append(time.monotonic() - started)
    assert_never_blocked(took)
    publisher.publish_presence("front_door", {"person": 4})

    mosquitto.start()  # same port, no persistence: every retained message is gone
    until(connected(publisher), timeout_s=10)
    with Subscriber(mosquitto.port, "appliance/#", f"{HA}/#") as sub:
        sub.wait_for("appliance/front_door/car/snapshot", JPEG)
    retained = retained_messages(mosquitto.port, "appliance/#", f"{HA}/#")
    assert retained["appliance/available"] == b"online"
    assert retained["appliance/front_door/person"] == b"4"  # the newest, published while down
    assert retained["appliance/front_door/lines/gate/in/person"] == b"7"
    assert retained["appliance/front_door/person/snapshot"] == JPEG
    assert len([t for t in retained if t.startswith(f"{HA}/")]) == 19
    status = publisher.status()
    assert status.state == "connected" and status.last_error is None


def test_refused_credentials_are_an_error_and_never_shown(
    tmp_path: Path, publishers: Callable[..., MqttPublisher], log_lines: list[str]
) -> None:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    password = "s3cr3t-Pa55"
    with Mosquitto(tmp_path / "auth", users={"appliance": password}) as broker:
        wrong = publishers(broker.url("appliance", "wrong-" + password), client_id="wrong")
        until(lambda: wrong.status().state == "error")
        status = wrong.status()
        assert status.last_error is not None and "not autho" in status.last_error
        assert status.broker == f"127.0.0.1:{broker.port}"
        right = publishers(broker.url("appliance", password), client_id="right")
        until(connected(right))
        right.publish_event("new", None, EVENT)
        until(lambda: right.status().published >= 2)
        assert wrong.status().state == "error"  # still refused, retrying with backoff
        wrong.close()
        right.close()
    shown = [repr(wrong.status()), repr(right.status()), repr(right), *log_lines]
    assert any("refused" in line for line in log_lines)
    assert not [text for text in shown if password in text]


# paho 2.2 leaves the socket of a failed TLS handshake to the garbage collector
# (Client._ssl_wrap_socket: do_handshake() raises, nothing closes ssl_sock): its
# ResourceWarning is paho's, and it comes on paho's thread at each refused try.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tls_broker_checked_against_its_certificate(
    tmp_path: Path, publishers: Callable[..., MqttPublisher]
) -> None:
    """mqtts:// verifies the broker: a self-signed one is refused until its certificate is
    given as the CA file, then the same topics flow over TLS."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    pair = make_self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])
    with Mosquitto(tmp_path / "tls-broker", tls=(pair.cert, pair.key)) as broker:
        untrusted = publishers(broker.url(), client_id="untrusted")
        until(lambda: untrusted.status().last_error is not None)
        assert untrusted.status().state == "disconnected"
        trusted = publishers(broker.url(), client_id="trusted", ca_file=str(pair.cert))
        until(connected(trusted))
        trusted.publish_presence("front_door", {"person": 1})
        until(lambda: trusted.status().published >= 3)  # online, person, all
        assert untrusted.status().state == "disconnected"
        assert untrusted.status().last_error == (
            f"cannot connect to 127.0.0.1:{broker.port}: TLS: self-signed certificate"
        )
        untrusted.close()
        gc.collect()  # paho's leaked sockets, while this test's filter still applies


def test_unreachable_broker_never_blocks_start_publish_or_close(
    publishers: Callable[..., MqttPublisher],
) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    publisher = publishers(f"mqtt://u:pw@127.0.0.1:{port}")
    assert time.monotonic() - started < 0.2
    until(lambda: publisher.status().last_error is not None, timeout_s=5)
    status = publisher.status()
    assert (status.state, status.last_error) == (
        "disconnected",
        f"cannot connect to 127.0.0.1:{port}: connection refused",
    )
    publisher.announce(TOPOLOGY)
    publish_state(publisher)
    started = time.monotonic()
    publisher.close(timeout_s=3)
    assert time.monotonic() - started < 3.5


def test_a_full_queue_drops_events_with_a_count(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    publisher = publishers(mosquitto.url(), max_queued=20)
    until(connected(publisher))
    mosquitto.stop()
    until(lambda: publisher.status().state == "disconnected", timeout_s=5)
    for i in range(50):
        publisher.publish_event("update", EVENT, {**EVENT, "top_score": i})
    assert publisher.status().dropped == 30  # paho kept 20 for the reconnect
    mosquitto.start()
    with Subscriber(mosquitto.port, "appliance/events") as sub:
        until(connected(publisher))
        sub.wait(lambda m: json.loads(m.payload)["after"]["top_score"] == 19)


def test_a_frozen_broker_never_blocks_callers(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    """The broker hangs with its socket open: acknowledgements stop, TCP buffers fill. Callers
    still return at once; paho's keepalive notices; thawed, it all comes back."""
    publisher = publishers(mosquitto.url(), keepalive_s=2, max_queued=500)
    publisher.announce(TOPOLOGY)
    until(connected(publisher))
    mosquitto.signal(signal.SIGSTOP)
    big = b"\xff\xd8" + os.urandom(200_000) + b"\xff\xd9"
    took = []
    for i in range(2000):
        started = time.monotonic()
        publisher.publish_event("update", EVENT, {**EVENT, "top_score": i, "pad": "x" * 1000})
        publisher.publish_presence("front_door", {"person": i % 5})
        if i % 40 == 0:
            publisher.publish_snapshot("front_door", "person", big)
        took.append(time.monotonic() - started)
    assert_never_blocked(took)
    assert publisher.status().dropped >= 2000 - 500
    until(lambda: publisher.status().state != "connected", timeout_s=15)
    mosquitto.signal(signal.SIGCONT)
    until(connected(publisher), timeout_s=20)
    until(
        lambda: (
            retained_messages(mosquitto.port, "appliance/front_door/person", settle_s=0.1)
            == {"appliance/front_door/person": b"4"}
        ),
        timeout_s=20,
    )


def test_many_entities_through_a_small_window(
    mosquitto: Mosquitto, publishers: Callable[..., MqttPublisher]
) -> None:
    """16 cameras with 9 labels, 4 zones and 4 lines: 2,048 configs, more than the client
    queue holds; they leave a window at a time and all arrive."""
    labels = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "bird", "cat", "dog")
    camera = CameraTopology(labels, zones=("a", "b", "c", "d"), lines=("l1", "l2", "l3", "l4"))
    big = Topology({f"cam{i}": camera for i in range(16)})
    publisher = publishers(mosquitto.url(), max_queued=100, window=50)
    started = time.monotonic()
    publisher.announce(big)
    assert time.monotonic() - started < 1  # announce only queues
    expected = 16 * (2 + 9 * 2 + 4 * 9 + 4 * 2 * 9)
    until(lambda: publisher.status().published >= expected + 16 * (1 + 9 + 4 * 9), timeout_s=60)
    assert len(retained_messages(mosquitto.port, f"{HA}/#")) == expected
    assert publisher.status().dropped == 0
