"""Add or edit a camera in a dialog: URI checked by the service, "test connection" grabs
one frame and shows it before anything is saved."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from appliance.auth.audit import Actor, audited
from appliance.config import CameraConfig, MaskConfig
from appliance.errors import NotFoundError
from appliance.services.cameras import CameraView
from appliance.services.probe import grab_one_frame
from ui import session
from ui.components.events_settings import EventsSettings
from ui.components.motion_settings import MotionSettings
from ui.context import Dashboard
from ui.feedback import run_action

URI_HINT = "usb://0 · rtsp://user:pass@host/stream · file:///videos/door.mp4 · demo://"
DEFAULT_MODEL = "(default model)"


def slug(name: str) -> str:
    """A URL-safe camera id from its name: "Front door" -> "front-door"."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:40] or "camera"


class CameraForm:
    """`existing` None adds a camera; otherwise edits it (its id stays)."""

    def __init__(
        self,
        dash: Dashboard,
        on_saved: Callable[[], Awaitable[None] | None],
        model_names: list[str],
        existing: CameraView | None = None,
    ) -> None:
        self._dash, self._on_saved, self._existing = dash, on_saved, existing
        config = existing.config if existing else None
        models = [DEFAULT_MODEL, *model_names]
        with ui.dialog() as self.dialog, ui.card().classes("w-[560px] max-w-full gap-3"):
            ui.label("Edit camera" if existing else "Add a camera").classes("text-lg font-medium")
            self.name = ui.input("Name", value=config.name if config else "").mark("camera-name")
            self.name.classes("w-full")
            self.uri = ui.input("Source URI", value=config.uri if config else "")
            self.uri.classes("w-full font-mono").props(f'hint="{URI_HINT}"').mark("camera-uri")
            with ui.row().classes("w-full gap-3 no-wrap"):
                self.model = ui.select(
                    models, value=(config.model if config and config.model else DEFAULT_MODEL)
                ).props('label="Model"')
                self.model.classes("flex-1").mark("camera-model")
                self.fps = ui.number("Max fps", value=config.fps_limit if config else None)
                self.fps.props("clearable").classes("w-28").mark("camera-fps")
                self.conf = ui.number(
                    "Confidence", value=config.conf if config else 0.25, min=0, max=1, step=0.05
                )
                self.conf.classes("w-28")
            with ui.row().classes("w-full items-center gap-2"):
                self.tracking = ui.switch("Tracking", value=config.tracking if config else True)
                self.tracking.mark("camera-tracking")
                ui.label("a track id per object, across frames: lines and zones need it").classes(
                    "text-xs text-gray-500"
                )
            self.events = EventsSettings(config.events if config else None)
            self.motion = MotionSettings(config.motion if config else None)
            self.preview = ui.column().classes("w-full")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Test connection", icon="cable", on_click=self.test_connection).props(
                    "outline"
                ).mark("camera-test")
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save", icon="check", on_click=self.save).mark("camera-save")
        self.dialog.open()

    def _uri_changed(self) -> bool:
        # the form shows the saved URI redacted: unchanged, it must not overwrite the secret
        return self._existing is None or self.uri.value != self._existing.config.uri

    async def test_connection(self) -> None:
        if not self._uri_changed() and self._existing is not None:
            ui.notify("Showing the running camera's latest frame", type="info")
            url = f"/v1/cameras/{self._existing.config.id}/snapshot.jpg?annotate=0"
            self._show_preview(self._dash.media_url(url), "the saved source")
            return
        roots = self._dash.services.cameras.media_roots  # the same folders a camera may read
        probe = grab_one_frame(self.uri.value.strip(), allowed_roots=roots)
        ok, result = await run_action(probe, busy="Connecting…")
        if ok and result is not None:
            data = base64.b64encode(result.jpeg).decode()
            detail = f"{result.width}×{result.height}, first frame after {result.open_ms:.0f} ms"
            self._show_preview(f"data:image/jpeg;base64,{data}", detail)

    def _show_preview(self, source: str, detail: str) -> None:
        self.preview.clear()
        with self.preview:
            ui.image(source).classes("w-full rounded").mark("camera-preview")
            ui.label(f"Connected: {detail}").classes("text-sm text-positive")

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name.value.strip(),
            "model": None if self.model.value == DEFAULT_MODEL else self.model.value,
            "fps_limit": self.fps.value or None,
            "conf": self.conf.value if self.conf.value is not None else 0.25,
            "tracking": bool(self.tracking.value),
            "events": self.events.values(),
            "motion": self.motion.values(self._masks()),
        }
        if self._uri_changed():
            values["uri"] = self.uri.value.strip()
        return values

    def _masks(self) -> list[MaskConfig]:
        """The camera's masks as they are now: they may have been drawn since the form opened."""
        if self._existing is None:
            return []
        try:
            return self._dash.services.cameras.get(self._existing.config.id).config.motion.masks
        except NotFoundError:  # removed meanwhile: saving says so
            return []

    async def save(self) -> None:
        cameras = self._dash.services.cameras
        values = self._values()
        if self._existing is None:
            work = _create(cameras, values, session.actor(self._dash))
            ok, _ = await run_action(work, busy="Adding camera", done=f"Added {values['name']}")
        else:
            work = _update(cameras, self._existing.config.id, values)
            ok, _ = await run_action(work, busy="Saving", done="Saved")
        if ok:
            self.dialog.close()
            result = self._on_saved()
            if result is not None:
                await result


async def _update(cameras, camera_id: str, values: dict[str, Any]) -> CameraView:
    # checked here first, field by field (ValidationError: "motion.threshold: …"): the
    # service reports only the first problem, without saying which field it is
    CameraConfig.model_validate({**cameras.get(camera_id).config.model_dump(), **values})
    return await cameras.update(camera_id, values)


async def _create(cameras, values: dict[str, Any], actor: Actor) -> CameraView:
    taken = {view.config.id for view in cameras.list()}
    camera_id, n = slug(values["name"] or "camera"), 2
    base = camera_id
    while camera_id in taken:
        camera_id, n = f"{base}-{n}", n + 1
    with audited("camera.add", actor, target=camera_id):
        config = CameraConfig(id=camera_id, **values)  # ValidationError: shown field by field
        return await cameras.create(config)
