"""Topics, event messages, Home Assistant discovery configs and the retained store: pure
functions, no broker."""

from __future__ import annotations

import json
import re

import pytest

from appliance.mqtt.discovery import discovery_configs, id_part, node_id
from appliance.mqtt.retained import Owner, RetainedStore
from appliance.mqtt.topics import (
    CountGroup,
    Message,
    available_topic,
    event_message,
    level,
    snapshot_topic,
    total_topic,
)
from appliance.mqtt.topology import CameraTopology, DeviceInfo, Topology

DEVICE = DeviceInfo("3f2a9c", "Hall appliance", "1.2.3", configuration_url="https://hall.lan")
TOPOLOGY = Topology(
    {
        "front_door": CameraTopology(
            labels=("person", "traffic light"), zones=("yard",), lines=("gate",), name="Front door"
        ),
        "garage-2": CameraTopology(labels=("car",)),
    }
)
EVENT = {"id": "1700000000.000000-abc123", "camera": "front_door", "label": "person"}
OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def test_frigate_topic_layout() -> None:
    assert available_topic("appliance") == "appliance/available"
    assert CountGroup("front_door").topic("appliance", "person") == "appliance/front_door/person"
    assert total_topic("appliance", "front_door") == "appliance/front_door/all"
    assert snapshot_topic("p", "cam", "person") == "p/cam/person/snapshot"
    assert CountGroup("cam", zone="yard").topic("p", "car") == "p/cam/yard/car"
    line = CountGroup("cam", line="gate", direction="in")
    assert line.topic("p", "car") == "p/cam/lines/gate/in/car"


def test_labels_stay_as_frigate_publishes_them_but_never_split_or_wildcard() -> None:
    assert CountGroup("cam").topic("p", "traffic light") == "p/cam/traffic light"
    assert level("a/b+c#d\x00") == "a_b_c_d_"
    assert level("") == "_"


def test_event_message() -> None:
    after = {**EVENT, "end_time": None}
    new = event_message("appliance", "new", None, after)
    assert new.topic == "appliance/events" and new.retain is False
    assert json.loads(new.payload) == {"type": "new", "before": after, "after": after}
    ended = {**after, "end_time": 1700000009.5}
    end = json.loads(event_message("appliance", "end", after, ended).payload)
    assert (end["type"], end["before"], end["after"]) == ("end", after, ended)
    with pytest.raises(ValueError, match="event type"):
        event_message("appliance", "begin", None, after)  # type: ignore[arg-type]


def configs() -> dict[str, dict]:
    raw = discovery_configs(TOPOLOGY, DEVICE, "appliance", "homeassistant")
    return {topic: json.loads(payload) for topic, payload in raw.items()}


def test_discovery_topics_and_ids_are_what_home_assistant_accepts() -> None:
    found = configs()
    unique_ids = [c["unique_id"] for c in found.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, config in found.items():
        prefix, component, node, object_id, tail = topic.split("/")
        assert (prefix, node, tail) == ("homeassistant", "appliance_3f2a9c", "config")
        assert component in {"sensor", "binary_sensor", "image"}
        assert OBJECT_ID.match(object_id), object_id
        assert config["unique_id"] == f"appliance_3f2a9c_{object_id}"
        assert config["availability_topic"] == "appliance/available"
        assert config["device"]["identifiers"] == ["appliance_3f2a9c"]
        assert config["device"]["sw_version"] == "1.2.3"
        assert config["device"]["configuration_url"] == "https://hall.lan"
        assert config["name"]
        if component == "image":
            assert config["content_type"] == "image/jpeg"
            assert config["image_topic"].endswith("/snapshot")
        else:
            assert config["state_topic"].startswith("appliance/")


def test_discovery_entities_per_camera_label_zone_and_line() -> None:
    found = configs()
    by_id = {t.split("/")[3]: c for t, c in found.items()}
    # 2 cameras x (occupancy, all) + 3 labels x (count, image) + 1 zone x 2 labels
    # + 1 line x 2 directions x 2 labels
    assert len(found) == 4 + 6 + 2 + 4
    occupancy = by_id["front_door_occupancy"]
    assert occupancy["state_topic"] == "appliance/front_door/all"
    assert occupancy["device_class"] == "occupancy"
    assert "value_template" in occupancy and occupancy["payload_on"] == "ON"
    count = by_id["front_door_traffic_light_count"]
    assert count["state_topic"] == "appliance/front_door/traffic light"
    assert count["state_class"] == "measurement"
    assert count["name"] == "Front door traffic light count"
    image = by_id["front_door_person_snapshot"]
    assert image["image_topic"] == "appliance/front_door/person/snapshot"
    zone = by_id["front_door_zone_yard_person_count"]
    assert zone["state_topic"] == "appliance/front_door/yard/person"
    line = by_id["front_door_line_gate_out_traffic_light_count"]
    assert line["state_topic"] == "appliance/front_door/lines/gate/out/traffic light"
    assert line["state_class"] == "total_increasing"
    assert by_id["garage-2_car_count"]["name"] == "garage-2 car count"  # no display name


def test_ids_from_awkward_labels_and_device_ids() -> None:
    assert id_part("traffic light") == "traffic_light"
    assert id_part("Cell Phone!") == "cell_phone"
    assert id_part("front-door") == "front-door"
    assert OBJECT_ID.match(id_part("人"))
    assert id_part("人") != id_part("猫")
    assert node_id(DeviceInfo("a1b2:c3", "x", "0")) == "appliance_a1b2_c3"


def test_colliding_ids_keep_the_first_and_skip_the_second() -> None:
    topo = Topology({"cam": CameraTopology(labels=("traffic light", "traffic_light"))})
    found = discovery_configs(topo, DEVICE, "p", "homeassistant")
    count = [t for t in found if t.endswith("/cam_traffic_light_count/config")]
    assert len(count) == 1


def test_topology_drops() -> None:
    old = TOPOLOGY
    new = Topology({"front_door": CameraTopology(labels=("person",), zones=(), lines=("gate",))})
    assert new.drops(old, "garage-2")  # camera gone
    assert not new.drops(old, "front_door")
    assert new.drops(old, "front_door", "person", zone="yard")  # zone gone
    assert not new.drops(old, "front_door", "person", line="gate")
    assert new.drops(old, "front_door", "traffic light")  # no longer listed
    assert not new.drops(old, "front_door", "cup")  # never listed: other objects' counts stay
    assert not new.drops(None, "front_door", "cup")


def test_store_queues_changes_only_and_resends_everything() -> None:
    store = RetainedStore()
    assert store.put("ha/c1", b"{}")
    assert store.put("p/cam/person", b"1", Owner("cam", "person"))
    assert not store.put("p/cam/person", b"1", Owner("cam", "person"))  # unchanged
    assert store.put("p/cam/person", b"2", Owner("cam", "person"))  # coalesced, newest wins
    assert store.take(10) == [Message("ha/c1", b"{}", True), Message("p/cam/person", b"2", True)]
    assert store.take(10) == []
    store.delete("ha/c1")
    store.resend_all()  # a new connection: configs first, then state, then deletions
    taken = store.take(1)
    assert taken == [Message("p/cam/person", b"2", True)]
    store.requeue(taken[0])  # refused by a full client queue
    deletion = store.take(1)
    assert deletion == [Message("ha/c1", b"", True)]
    store.handed_over(deletion[0])
    assert store.take(10) == [Message("p/cam/person", b"2", True)]
    store.resend_all()
    assert store.take(10) == [Message("p/cam/person", b"2", True)]  # the deletion is done


def test_store_finds_state_a_new_topology_removes() -> None:
    store = RetainedStore()
    store.put("p/front_door/yard/person", b"1", Owner("front_door", "person", zone="yard"))
    store.put("p/front_door/person", b"1", Owner("front_door", "person"))
    store.put("p/garage-2/all", b"0", Owner("garage-2"))
    new = Topology({"front_door": CameraTopology(labels=("person",))})
    assert sorted(store.stale_states(TOPOLOGY, new)) == [
        "p/front_door/yard/person",
        "p/garage-2/all",
    ]
