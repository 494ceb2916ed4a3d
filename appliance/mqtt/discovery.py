"""Home Assistant MQTT discovery: one retained config per entity, under
`<discovery_prefix>/<component>/<node_id>/<object_id>/config`.

Per camera: a binary_sensor "occupancy" (something in view), a sensor "all count", and per
label a count sensor and an image entity (the latest snapshot); per zone and label an occupancy
sensor; per line, direction and label a count sensor (total_increasing: a reset to 0 is a new
cycle to Home Assistant's statistics). Every entity belongs to the appliance's device and goes
unavailable with `<prefix>/available`.

Ids: node_id is "appliance_" + the install id; object_ids join the camera, zone/line and label
with '_' ("front_door_person_count", "front_door_zone_yard_person_count",
"front_door_line_gate_in_car_count"); a label's characters outside [a-z0-9] become '_' (Home
Assistant allows only [a-zA-Z0-9_-] there). unique_id = node_id + "_" + object_id. Two names
that only differ in those characters would share an id: the first one (in sorted order) wins
and the other is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from loguru import logger

from appliance.mqtt.topics import CountGroup, available_topic, snapshot_topic, total_topic
from appliance.mqtt.topology import LINE_DIRECTIONS, CameraTopology, DeviceInfo, Topology

_NOT_ID = re.compile(r"[^a-z0-9_-]+")
_OCCUPIED = "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}"


class Entity(NamedTuple):
    component: str  # sensor, binary_sensor, image
    object_id: str
    fields: dict[str, Any]


def id_part(text: str) -> str:
    """`text` as part of a Home Assistant object id: lower case, runs of anything outside
    [a-z0-9_-] as one '_'. Text with nothing left (a non-Latin label) gets a stable hash."""
    part = _NOT_ID.sub("_", text.lower()).strip("_")
    return part or "h" + hashlib.sha1(text.encode()).hexdigest()[:10]


def node_id(device: DeviceInfo) -> str:
    return f"appliance_{id_part(device.device_id)}"


def config_topic(discovery_prefix: str, device: DeviceInfo, entity: Entity) -> str:
    return f"{discovery_prefix}/{entity.component}/{node_id(device)}/{entity.object_id}/config"


def discovery_configs(
    topology: Topology, device: DeviceInfo, prefix: str, discovery_prefix: str
) -> dict[str, bytes]:
    """Config topic -> JSON payload for every entity of `topology`."""
    configs: dict[str, bytes] = {}
    common = _common_fields(device, prefix)
    for camera in sorted(topology.cameras):
        for entity in camera_entities(camera, topology.cameras[camera], prefix):
            topic = config_topic(discovery_prefix, device, entity)
            if topic in configs:
                logger.warning("MQTT discovery: {} names the same entity twice", topic)
                continue
            fields = {
                **entity.fields,
                **common,
                "unique_id": f"{node_id(device)}_{entity.object_id}",
            }
            configs[topic] = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return configs


def camera_entities(camera: str, cam: CameraTopology, prefix: str) -> Iterator[Entity]:
    shown, cid = cam.name or camera, id_part(camera)
    total = total_topic(prefix, camera)
    occupancy = dict(name=f"{shown} occupancy", state_topic=total, value_template=_OCCUPIED)
    occupancy |= dict(device_class="occupancy", payload_on="ON", payload_off="OFF")
    yield Entity("binary_sensor", f"{cid}_occupancy", occupancy)
    yield _count(f"{cid}_all_count", f"{shown} all count", total)
    for label in sorted(cam.labels):
        lid = id_part(label)
        yield _count(
            f"{cid}_{lid}_count", f"{shown} {label} count", CountGroup(camera).topic(prefix, label)
        )
        image = dict(name=f"{shown} {label} snapshot", content_type="image/jpeg")
        image["image_topic"] = snapshot_topic(prefix, camera, label)
        yield Entity("image", f"{cid}_{lid}_snapshot", image)
    for zone in sorted(cam.zones):
        group = CountGroup(camera, zone=zone)
        for label in sorted(cam.labels):
            yield _count(
                f"{cid}_zone_{id_part(zone)}_{id_part(label)}_count",
                f"{shown} {zone} {label} count",
                group.topic(prefix, label),
            )
    for line in sorted(cam.lines):
        for direction in LINE_DIRECTIONS:
            group = CountGroup(camera, line=line, direction=direction)
            for label in sorted(cam.labels):
                yield _count(
                    f"{cid}_line_{id_part(line)}_{direction}_{id_part(label)}_count",
                    f"{shown} {line} {direction} {label}",
                    group.topic(prefix, label),
                    state_class="total_increasing",
                )


def _count(object_id: str, name: str, topic: str, state_class: str = "measurement") -> Entity:
    fields = {"name": name, "state_topic": topic, "state_class": state_class}
    return Entity("sensor", object_id, fields)


def _common_fields(device: DeviceInfo, prefix: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [node_id(device)],
        "name": device.name,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "sw_version": device.sw_version,
    }
    if device.configuration_url:
        block["configuration_url"] = device.configuration_url
    return {
        "availability_topic": available_topic(prefix),
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": block,
        "origin": {"name": "edge-appliance", "sw_version": device.sw_version},
    }


def referenced_topics(configs: Iterable[bytes]) -> set[str]:
    """The state and image topics the discovery `configs` read (their payloads as sent)."""
    topics: set[str] = set()
    for payload in configs:
        fields = json.loads(payload)
        topics.update(fields[k] for k in ("state_topic", "image_topic") if k in fields)
    return topics
