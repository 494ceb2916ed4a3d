"""Lines and zones as a resource of each camera: their definitions live in the camera's
configuration (changed through the camera service, so a change validates, saves and retunes
like any other), their counts and occupancy in the scene registry."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config import LineConfig, ZoneConfig
from appliance.errors import NotFoundError
from appliance.services.cameras import CameraService


class LineNotFoundError(NotFoundError):
    code = "line_not_found"


class ZoneNotFoundError(NotFoundError):
    code = "zone_not_found"


@dataclass(frozen=True)
class LineView:
    name: str
    config: LineConfig
    counts: dict[str, dict[str, int]]  # {"in": {label: n}, "out": {...}}


@dataclass(frozen=True)
class ZoneView:
    name: str
    config: ZoneConfig
    occupancy: dict[str, int]
    entered: dict[str, int]


class SceneService:
    def __init__(self, cameras: CameraService) -> None:
        self._cameras = cameras

    # --- lines -----------------------------------------------------------------------------

    def lines(self, camera_id: str) -> list[LineView]:
        config = self._cameras.get(camera_id).config
        return [self._line_view(camera_id, name, line) for name, line in config.lines.items()]

    def line(self, camera_id: str, name: str) -> LineView:
        config = self._cameras.get(camera_id).config
        if name not in config.lines:
            raise LineNotFoundError(f"camera {camera_id!r} has no line {name!r}")
        return self._line_view(camera_id, name, config.lines[name])

    async def put_line(self, camera_id: str, name: str, line: LineConfig) -> LineView:
        lines = {**self._cameras.get(camera_id).config.lines, name: line}
        await self._cameras.update(camera_id, {"lines": lines})
        return self.line(camera_id, name)

    async def delete_line(self, camera_id: str, name: str) -> None:
        lines = dict(self._cameras.get(camera_id).config.lines)
        if lines.pop(name, None) is None:
            raise LineNotFoundError(f"camera {camera_id!r} has no line {name!r}")
        await self._cameras.update(camera_id, {"lines": lines})

    def reset_line(self, camera_id: str, name: str) -> LineView:
        self.line(camera_id, name)
        self._cameras.scene.line_counts(camera_id, name).reset()
        return self.line(camera_id, name)

    # --- zones -----------------------------------------------------------------------------

    def zones(self, camera_id: str) -> list[ZoneView]:
        config = self._cameras.get(camera_id).config
        return [self._zone_view(camera_id, name, zone) for name, zone in config.zones.items()]

    def zone(self, camera_id: str, name: str) -> ZoneView:
        config = self._cameras.get(camera_id).config
        if name not in config.zones:
            raise ZoneNotFoundError(f"camera {camera_id!r} has no zone {name!r}")
        return self._zone_view(camera_id, name, config.zones[name])

    async def put_zone(self, camera_id: str, name: str, zone: ZoneConfig) -> ZoneView:
        zones = {**self._cameras.get(camera_id).config.zones, name: zone}
        await self._cameras.update(camera_id, {"zones": zones})
        return self.zone(camera_id, name)

    async def delete_zone(self, camera_id: str, name: str) -> None:
        zones = dict(self._cameras.get(camera_id).config.zones)
        if zones.pop(name, None) is None:
            raise ZoneNotFoundError(f"camera {camera_id!r} has no zone {name!r}")
        await self._cameras.update(camera_id, {"zones": zones})

    def reset_zone(self, camera_id: str, name: str) -> ZoneView:
        self.zone(camera_id, name)
        self._cameras.scene.zone_counts(camera_id, name).reset()
        return self.zone(camera_id, name)

    # --- everything, for metrics and the dashboard -----------------------------------------

    def all(self) -> dict[str, tuple[list[LineView], list[ZoneView]]]:
        """Every camera's lines and zones, by camera id."""
        return {
            view.config.id: (
                [self._line_view(view.config.id, n, c) for n, c in view.config.lines.items()],
                [self._zone_view(view.config.id, n, c) for n, c in view.config.zones.items()],
            )
            for view in self._cameras.list()  # one read of each camera, not three
        }

    def _line_view(self, camera_id: str, name: str, line: LineConfig) -> LineView:
        counts = self._cameras.scene.line_counts(camera_id, name).as_dict()
        return LineView(name, line, counts)

    def _zone_view(self, camera_id: str, name: str, zone: ZoneConfig) -> ZoneView:
        scene = self._cameras.scene
        entered = scene.zone_counts(camera_id, name).as_dict()["entered"]
        return ZoneView(name, zone, scene.occupancy(camera_id, name), entered)
