"""The Events page's filters: camera, label, zone and how far back. Choices come from the
cameras' settings (their event labels and zones); an empty select means "any"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from appliance.services.cameras import CameraService
from ui.event_feed import SPANS, EventFilter


class EventFilters:
    def __init__(
        self, cameras: CameraService, on_change: Callable[[EventFilter], Awaitable[None]]
    ) -> None:
        self._on_change = on_change
        views = cameras.list()
        camera_names = {v.config.id: v.config.name for v in views}
        labels = sorted({label for v in views for label in v.config.events.labels})
        zones = sorted({zone for v in views for zone in v.config.zones})
        with ui.row().classes("w-full items-center gap-3").mark("event-filters"):
            self.camera = self._select("Camera", camera_names, "filter-camera")
            self.label = self._select("Label", labels, "filter-label")
            self.zone = self._select("Zone", zones, "filter-zone")
            self.span = ui.toggle(SPANS, value=0, on_change=self._changed)
            self.span.props("no-caps dense").mark("filter-span")

    @property
    def value(self) -> EventFilter:
        return EventFilter(
            camera=self.camera.value or None,
            label=self.label.value or None,
            zone=self.zone.value or None,
            span_s=int(self.span.value or 0),
        )

    def _select(self, name: str, options: dict[str, str] | list[str], marker: str) -> ui.select:
        select = ui.select(options, label=name, clearable=True, on_change=self._changed)
        return select.props("dense outlined options-dense").classes("w-44").mark(marker)

    async def _changed(self) -> None:
        await self._on_change(self.value)
