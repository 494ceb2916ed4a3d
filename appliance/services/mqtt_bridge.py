"""MQTT as a listener of the appliance: events, objects in view and snapshots as they
happen; zone occupancy, line counts and the Home Assistant discovery topology once a second
(the publisher sends only what changed). Never blocks or fails the caller: the publisher
queues, and a broker that is away only shows in its status."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.mqtt.client import MqttPublisher
from appliance.mqtt.status import MqttStatus
from appliance.mqtt.topology import CameraTopology, DeviceInfo, Topology

__all__ = ["MqttBridge", "MqttStatus", "device_info"]
from appliance.secret import load_or_create_secret
from appliance.services.cameras import CameraService
from appliance.services.scene import SceneService

DIRECTIONS = ("in", "out")


def device_info(data_dir: Path, name: str) -> DeviceInfo:
    """The appliance as Home Assistant's device: its id is stable for the install (derived
    from a random value kept in the data dir, never the value itself)."""
    seed = load_or_create_secret(data_dir / "device.id")
    digest = hashlib.sha256(seed.encode()).hexdigest()[:12]
    return DeviceInfo(device_id=digest, name=name, sw_version=__version__)


class MqttBridge:
    def __init__(
        self, publisher: MqttPublisher, cameras: CameraService, scene: SceneService
    ) -> None:
        self._publisher = publisher
        self._cameras = cameras
        self._scene = scene
        self._announced: Topology | None = None

    # --- what happens (EventListener) ------------------------------------------------------

    def on_event(self, kind: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        self._publisher.publish_event(kind, None if kind == "new" else before, after)  # type: ignore[arg-type]

    def on_presence(self, camera: str, counts: dict[str, int]) -> None:
        self._publisher.publish_presence(camera, counts)

    def on_snapshot(self, camera: str, label: str, jpeg: bytes) -> None:
        self._publisher.publish_snapshot(camera, label, jpeg)

    # --- what stands -----------------------------------------------------------------------

    def topology(self) -> Topology:
        cameras = {}
        for view in self._cameras.list():
            config = view.config
            recording = config.tracking and config.events.enabled
            cameras[config.id] = CameraTopology(
                labels=tuple(config.events.labels) if recording else (),
                zones=tuple(config.zones),
                lines=tuple(config.lines),
                name=config.name,
            )
        return Topology(cameras)

    def sync(self) -> None:
        """Announce the topology if it changed, then the counts (blocking; quick)."""
        topology = self.topology()
        if topology != self._announced:
            self._publisher.announce(topology)
            self._announced = topology
        for camera, (lines, zones) in self._scene.all().items():
            for zone in zones:
                self._publisher.publish_zone(camera, zone.name, zone.occupancy)
            for line in lines:
                for direction in DIRECTIONS:
                    counts = line.counts.get(direction, {})
                    self._publisher.publish_line(camera, line.name, direction, counts)

    async def run(self, every_s: float = 1.0) -> None:
        """Runs for the life of the app."""
        self._publisher.start()
        while True:
            await asyncio.to_thread(self.sync)
            await asyncio.sleep(every_s)

    def status(self) -> MqttStatus:
        return self._publisher.status()

    def close(self) -> None:
        self._publisher.close()
