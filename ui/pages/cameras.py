"""Cameras: every configured camera with its state; add, edit, remove, start and stop."""

from __future__ import annotations

from nicegui import ui

from appliance.auth.audit import audited_call
from appliance.auth.scopes import Scope
from appliance.services.cameras import CameraView
from ui import formatting, session
from ui.components.camera_form import CameraForm
from ui.context import Dashboard
from ui.feedback import run_action
from ui.layout import page_frame


def cameras_page(dash: Dashboard) -> None:
    cameras = dash.services.cameras
    with page_frame(dash, "Cameras", "/cameras"):
        dialogs = ui.element()  # dialogs live here, outside the list that is rebuilt
        shown: list[tuple] = []

        @ui.refreshable
        def camera_list() -> None:
            views = cameras.list()
            shown[:] = [_signature(view) for view in views]
            if not views:
                ui.label("No cameras configured.").classes("text-gray-500")
            with ui.column().classes("w-full gap-2"):
                for view in views:
                    _camera_row(dash, view, camera_list.refresh, dialogs)

        def follow_changes() -> None:
            if [_signature(view) for view in cameras.list()] != shown:
                camera_list.refresh()

        async def add() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            models = await dash.services.models.names()
            with dialogs.clear():
                CameraForm(dash, camera_list.refresh, models)

        ui.button("Add camera", icon="add", on_click=add).mark("add-camera").set_enabled(
            session.can(dash, Scope.OPERATOR)
        )
        camera_list()
        ui.timer(1.0, follow_changes)


def _signature(view: CameraView) -> tuple:
    """What a row shows; the list is rebuilt only when one of these changes."""
    config = view.config
    return (config, view.capture.state, view.capture.reconnects, view.capture.last_error)


def _camera_row(dash: Dashboard, view: CameraView, refresh, dialogs: ui.element) -> None:
    cameras = dash.services.cameras
    config, state = view.config, view.capture.state.value
    with (
        ui.card().classes("w-full").mark(f"camera-row-{config.id}"),
        ui.row().classes("w-full items-center gap-4"),
    ):
        with ui.column().classes("gap-0 min-w-[180px]"):
            ui.link(config.name, f"/cameras/{config.id}").classes("font-medium")
            ui.label(config.id).classes("text-xs text-gray-500")
        ui.label(config.uri).classes("font-mono text-sm text-gray-600 flex-1 break-all")
        ui.badge(state, color=formatting.state_color(state)).mark(f"row-state-{config.id}")
        ui.label(f"{view.capture.reconnects} reconnects").classes("w-24 text-sm text-gray-500")
        ui.label(config.model or "default model").classes("w-32 text-sm truncate")
        if view.capture.last_error and state != "streaming":
            ui.icon("error_outline", color="negative").tooltip(view.capture.last_error)

        async def toggle() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            verb, done = ("Stopping", "Stopped") if config.enabled else ("Starting", "Started")
            await run_action(
                cameras.set_enabled(config.id, not config.enabled),
                busy=f"{verb} {config.name}",
                done=f"{done} {config.name}",
            )
            refresh()

        async def remove() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            removing = cameras.delete(config.id)
            work = audited_call("camera.remove", session.actor(dash), removing, target=config.id)
            ok, _ = await run_action(work, busy="Removing", done=f"Removed {config.name}")
            if ok:
                refresh()

        may_change = session.can(dash, Scope.OPERATOR)  # viewers see, but cannot change
        with ui.row().classes("gap-1"):
            buttons = [
                ui.button(icon="stop" if config.enabled else "play_arrow", on_click=toggle)
                .tooltip("Stop" if config.enabled else "Start")
                .mark(f"toggle-{config.id}"),
                ui.button(icon="edit", on_click=lambda: edit())
                .tooltip("Edit")
                .mark(f"edit-{config.id}"),
                ui.button(icon="delete", on_click=lambda: _confirm(dialogs, config.name, remove))
                .props("color=negative")
                .tooltip("Remove")
                .mark(f"delete-{config.id}"),
            ]
            for button in buttons:
                button.props("flat round").set_enabled(may_change)

        async def edit() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            models = await dash.services.models.names()
            with dialogs.clear():
                CameraForm(dash, refresh, models, existing=view)


def _confirm(dialogs: ui.element, name: str, action) -> None:
    with dialogs.clear(), ui.dialog() as dialog, ui.card():
        ui.label(f"Remove {name}? Its settings are deleted; the source is untouched.")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")

            async def go() -> None:
                dialog.close()
                await action()

            ui.button("Remove", on_click=go).props("color=negative").mark("confirm-remove")
    dialog.open()
