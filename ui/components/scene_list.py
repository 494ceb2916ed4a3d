"""A camera's saved lines (crossings in and out, by label) and zones (objects inside now,
entries), each with Reset and Delete. Counts refresh every second; the rows are rebuilt only
when the set of lines and zones changes, so a refresh never closes a menu or a dialog."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from appliance.auth.scopes import Scope
from appliance.errors import NotFoundError
from appliance.services.scene import LineView, SceneService, ZoneView
from ui import formatting, session
from ui.context import Dashboard
from ui.feedback import run_action
from ui.scene_draft import LINE_COLOUR, ZONE_COLOUR, Kind

REFRESH_S = 1.0


class SceneList:
    def __init__(self, dash: Dashboard, camera_id: str) -> None:
        self._dash, self._camera_id = dash, camera_id
        self._scene: SceneService = dash.services.scene
        self._allowed = session.can(dash, Scope.OPERATOR)
        self._shape: object = None  # the names and definitions the rows show
        self._texts: dict[str, tuple[ui.label, ui.label]] = {}  # marker -> (totals, by label)
        self.root = ui.column().classes("w-full gap-1")
        self.update()
        ui.timer(REFRESH_S, self.update)

    def update(self) -> None:
        try:
            lines = self._scene.lines(self._camera_id)
            zones = self._scene.zones(self._camera_id)
        except NotFoundError:  # the camera was removed meanwhile
            return
        shape = ([(v.name, v.config) for v in lines], [(v.name, v.config) for v in zones])
        if shape != self._shape:
            self._shape = shape
            self._build(lines, zones)
        for line in lines:
            totals, detail = self._texts[f"line-{line.name}"]
            totals.set_text(formatting.line_totals(line.counts))
            detail.set_text(formatting.line_by_label(line.counts) or "nothing crossed yet")
        for zone in zones:
            totals, detail = self._texts[f"zone-{zone.name}"]
            totals.set_text(_zone_totals(zone))
            detail.set_text(_zone_detail(zone))

    def _build(self, lines: list[LineView], zones: list[ZoneView]) -> None:
        self.root.clear()
        self._texts.clear()
        with self.root:
            if not lines and not zones:
                ui.label("No lines or zones yet: draw one on the picture.").classes(
                    "text-sm text-gray-500"
                ).mark("scene-empty")
                return
            for line in lines:
                self._row("line", line.name, line.config.classes)
            if lines and zones:
                ui.separator()
            for zone in zones:
                self._row("zone", zone.name, zone.config.classes)

    def _row(self, kind: Kind, name: str, classes: list[str] | None) -> None:
        marker = f"{kind}-{name}"
        colour = LINE_COLOUR if kind == "line" else ZONE_COLOUR
        icon = "timeline" if kind == "line" else "pentagon"
        with ui.row().classes("w-full items-center gap-3 no-wrap py-1").mark(marker):
            ui.icon(icon, size="sm").style(f"color: {colour}").tooltip(kind)
            with ui.column().classes("gap-0 w-36 shrink-0"):
                ui.label(name).classes("font-medium font-mono truncate")
                counted = ", ".join(classes) if classes else "all classes"
                ui.label(counted).classes("text-xs text-gray-500 truncate").mark(
                    f"{marker}-classes"
                )
            with ui.column().classes("gap-0 flex-1 min-w-0"):
                totals = ui.label().classes("text-sm font-medium").mark(f"{marker}-totals")
                detail = ui.label().classes("text-xs text-gray-500").mark(f"{marker}-detail")
            self._texts[marker] = (totals, detail)
            self._button(
                "restart_alt", f"Reset {kind} {name}", f"{marker}-reset", self._reset, kind, name
            )
            self._button(
                "delete", f"Delete {kind} {name}", f"{marker}-delete", self._delete, kind, name
            )

    def _button(
        self,
        icon: str,
        label: str,
        marker: str,
        handler: Callable[[Kind, str], Awaitable[None]],
        kind: Kind,
        name: str,
    ) -> None:
        button = ui.button(icon=icon, on_click=lambda: handler(kind, name))
        button.props(f'flat round dense aria-label="{label}"').tooltip(label).mark(marker)
        button.set_enabled(self._allowed)

    async def _reset(self, kind: Kind, name: str) -> None:
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        reset: Callable[[str, str], Any] = (
            self._scene.reset_line if kind == "line" else self._scene.reset_zone
        )
        work = asyncio.to_thread(reset, self._camera_id, name)
        if (await run_action(work, busy="Resetting", done=f"Counts of {name} reset"))[0]:
            self.update()

    async def _delete(self, kind: Kind, name: str) -> None:
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        if not await _confirm(f"Delete {kind} {name}? Its counts go with it."):
            return
        delete = self._scene.delete_line if kind == "line" else self._scene.delete_zone
        work = delete(self._camera_id, name)
        if (await run_action(work, busy="Deleting", done=f"Deleted {kind} {name}"))[0]:
            self.update()


async def _confirm(question: str) -> bool:
    """Ask in a dialog at page level (rows may be rebuilt meanwhile); True for Delete."""
    with ui.context.client.layout, ui.dialog() as dialog, ui.card():
        ui.label(question)
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
            ui.button("Delete", color="negative", on_click=lambda: dialog.submit(True)).mark(
                "confirm-delete"
            )
    try:
        return bool(await dialog)
    finally:
        dialog.delete()


def _zone_totals(zone: ZoneView) -> str:
    inside = sum(zone.occupancy.values())
    return f"{inside} inside · {sum(zone.entered.values())} entered"


def _zone_detail(zone: ZoneView) -> str:
    now, entered = formatting.by_label(zone.occupancy), formatting.by_label(zone.entered)
    parts = [f"now {now}" if now else "empty now", f"entered {entered}" if entered else ""]
    return " · ".join(p for p in parts if p)
