"""What there is to announce: the appliance as a device, and per camera its labels, zones and
lines. Built by the integrator from the runtime configuration; compared to find removals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LINE_DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class DeviceInfo:
    """The appliance as Home Assistant's device registry sees it. `device_id` is the stable
    install id: every unique_id derives from it, so it must never change for an install."""

    device_id: str
    name: str
    sw_version: str
    model: str = "Edge inference appliance"
    manufacturer: str = "edge-appliance"
    configuration_url: str | None = None


@dataclass(frozen=True)
class CameraTopology:
    labels: tuple[str, ...] = ()  # the camera's event labels
    zones: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    name: str | None = None  # display name for Home Assistant; the camera id when empty


@dataclass(frozen=True)
class Topology:
    cameras: Mapping[str, CameraTopology] = field(default_factory=dict)

    def drops(
        self,
        old: Topology | None,
        camera: str,
        label: str | None = None,
        zone: str | None = None,
        line: str | None = None,
    ) -> bool:
        """Whether this topology, replacing `old`, removes what state about (camera, label,
        zone, line) describes: its camera, zone or line is gone, or the camera stopped listing
        the label. Labels a camera never listed (counts of other objects) are kept."""
        cam = self.cameras.get(camera)
        if cam is None:
            return True
        if (zone is not None and zone not in cam.zones) or (
            line is not None and line not in cam.lines
        ):
            return True
        before = old.cameras.get(camera) if old is not None else None
        listed_before = before is not None and label in before.labels
        return label is not None and listed_before and label not in cam.labels
