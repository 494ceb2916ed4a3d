"""One camera on the Live page: picture, name, state, rates and what it sees right now."""

from __future__ import annotations

from nicegui import ui

from appliance.errors import NotFoundError
from appliance.services.live import LiveFrame
from ui import formatting
from ui.components.live_view import LiveView
from ui.context import Dashboard


class CameraTile:
    def __init__(self, dash: Dashboard, camera_id: str) -> None:
        cameras = dash.services.cameras
        self._cameras = cameras
        self.camera_id = camera_id
        view = cameras.get(camera_id)
        card = ui.card().tight().classes("w-full cursor-pointer hover:shadow-lg")
        card.on("click", lambda: ui.navigate.to(f"/cameras/{camera_id}"))
        card.mark(f"tile-{camera_id}")
        with card:
            self.live = LiveView(
                cameras,
                camera_id,
                fps=5,
                preview=True,
                url_for=dash.media_url,
            )
            with ui.card_section().classes("w-full p-3 gap-1"):
                with ui.row().classes("w-full items-center no-wrap"):
                    ui.label(view.config.name).classes("font-medium truncate")
                    ui.space()
                    self.badge = ui.badge("").mark(f"state-{camera_id}")
                with ui.row().classes("gap-3 text-xs text-gray-500"):
                    self.rate = ui.label().mark(f"fps-{camera_id}")
                    self.latency = ui.label()
                    self.age = ui.label()
                self.labels = ui.row().classes("gap-1 min-h-6")
                self._labels_shown: tuple[str | None, list[tuple[str, int]]] | None = None
        self.update()
        ui.timer(1.0, self.update)

    def update(self) -> None:
        try:
            view = self._cameras.get(self.camera_id)
        except NotFoundError:
            self.badge.set_text("removed")
            self.badge.props("color=grey")
            return
        state = view.capture.state.value
        self.badge.set_text(state)
        self.badge.props(f"color={formatting.state_color(state)}")
        self.rate.set_text(f"{formatting.fps(view.capture.fps_in)} in · {view.fps_out:.1f} out")
        self.age.set_text(formatting.age(view.capture.frame_age_s))
        frame = self.live.frame
        self.latency.set_text(f"latency {formatting.ms(frame.latency_ms if frame else None)}")
        self._show_labels(frame, view.inference_error)

    def _show_labels(self, frame: LiveFrame | None, error: str | None) -> None:
        counts: list[tuple[str, int]] = []
        age = self.live.frame_age_s()
        if frame is not None and age is not None and age <= 5:
            counts = formatting.label_counts([d.label for d in frame.result.detections])
        if (error, counts) == self._labels_shown:
            return  # rebuilding identical chips every second costs the server and the browser
        self._labels_shown = (error, counts)
        self.labels.clear()
        with self.labels:
            if error:
                ui.label(error).classes("text-xs text-negative truncate")
                return
            for label, count in counts:
                ui.chip(f"{label} {count}").props("dense square outline color=primary")
