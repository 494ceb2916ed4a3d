"""Live: every camera as a tile with its annotated picture, updating together."""

from __future__ import annotations

from nicegui import ui

from ui.components.camera_tile import CameraTile
from ui.context import Dashboard
from ui.layout import page_frame


def live_page(dash: Dashboard) -> None:
    cameras = dash.services.cameras
    with page_frame(dash, "Live", "/"):
        shown: list[str] = []

        @ui.refreshable
        def grid() -> None:
            shown[:] = [view.config.id for view in cameras.list()]
            if not shown:
                _empty_state()
                return
            with ui.grid().classes(
                "w-full gap-4 grid-cols-1 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4"
            ):
                for camera_id in shown:
                    CameraTile(dash, camera_id)

        def follow_changes() -> None:
            """Cameras added or removed elsewhere appear here without a reload."""
            if [view.config.id for view in cameras.list()] != shown:
                grid.refresh()

        grid()
        ui.timer(2.0, follow_changes)


def _empty_state() -> None:
    with ui.card().classes("w-full items-center p-10 gap-3"):
        ui.icon("videocam_off", size="xl").classes("text-gray-400")
        ui.label("No cameras yet").classes("text-lg")
        ui.label("Add a USB camera, an RTSP stream or a video file to watch it here.")
        ui.button("Add a camera", icon="add", on_click=lambda: ui.navigate.to("/cameras"))
