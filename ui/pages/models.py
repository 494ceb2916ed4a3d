"""Models: the repository, upload with validation, activation with the swap report."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from nicegui import events, run, ui

from appliance.auth.audit import audited_call
from appliance.auth.scopes import Scope
from appliance.services.models import ModelView
from ui import formatting, session
from ui.components.jobs_panel import BUILDS, JobsPanel, submit_build
from ui.components.reports import show_swap, show_validation
from ui.context import Dashboard
from ui.feedback import run_action
from ui.layout import page_frame


def model_name_from(filename: str) -> str:
    """A repository name from an uploaded file's name: "yolo11n (2).onnx" -> "yolo11n-2"."""
    stem = Path(filename).stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    return name[:64] or "model"


async def models_page(dash: Dashboard) -> None:
    with page_frame(dash, "Models", "/models"):
        dialogs = ui.element()

        @ui.refreshable
        async def model_list() -> None:
            views = await dash.services.models.list()  # reads the repository in a thread
            with ui.column().classes("w-full gap-2"):
                for view in views:
                    _model_card(dash, view, model_list.refresh, dialogs)

        _upload_card(dash, model_list.refresh, dialogs)
        await model_list()
        JobsPanel(
            dash.services.jobs,
            may_cancel=lambda: session.ensure(dash, Scope.ADMIN),
            actor=lambda: session.actor(dash),
        )


def _upload_card(dash: Dashboard, refresh, dialogs: ui.element) -> None:
    limit = dash.services.uploads.max_model_bytes
    with ui.card().classes("w-full"):
        ui.label("Add a model").classes("font-medium")
        ui.label(
            "An ONNX detection model (YOLOv5/v8/11 exports, end-to-end NMS models). It is "
            "checked, test-run on a real frame and benchmarked before it can be activated."
        ).classes("text-sm text-gray-500")
        with ui.row().classes("w-full items-start gap-4"):
            name = ui.input("Name (optional)").props('hint="default: the file name"')
            name.mark("upload-name")

            async def uploaded(event: events.UploadEventArguments) -> None:
                if not session.ensure(dash, Scope.ADMIN):
                    upload.reset()
                    return
                chosen = (name.value or "").strip() or model_name_from(event.file.name)
                actor = session.actor(dash)
                folder = Path(dash.upload_dir)
                await run.io_bound(folder.mkdir, parents=True, exist_ok=True)
                staged = folder / f"{uuid.uuid4().hex}{Path(event.file.name).suffix.lower()}"
                try:
                    await event.file.save(staged)
                    upload_it = dash.services.models.upload(chosen, staged)
                    ok, view = await run_action(
                        audited_call("model.upload", actor, upload_it, target=chosen),
                        busy=f"Validating {chosen}…",
                        done=f"{chosen} added",
                    )
                finally:
                    await run.io_bound(staged.unlink, True)
                upload.reset()
                if ok and view is not None:
                    name.set_value("")
                    refresh()
                    with dialogs.clear():
                        show_validation(chosen, view.meta.validation)

            upload = ui.upload(
                label="ONNX model file",
                auto_upload=True,
                max_file_size=limit,
                on_upload=uploaded,
                on_rejected=lambda: ui.notify(
                    f"That file is larger than the {formatting.size(limit)} limit",
                    type="negative",
                ),
            ).props('accept=".onnx,.engine,.plan"')
            upload.classes("min-w-[320px]").mark("upload").set_enabled(
                session.can(dash, Scope.ADMIN)
            )


def _model_card(dash: Dashboard, view: ModelView, refresh, dialogs: ui.element) -> None:
    meta = view.meta
    is_admin = session.can(dash, Scope.ADMIN)
    with ui.card().classes("w-full").mark(f"model-{meta.name}"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(meta.name).classes("text-lg font-medium")
            ui.label(meta.version).classes("font-mono text-xs text-gray-500")
            if view.default:
                ui.badge("default", color="primary")
            if view.loaded:
                ui.badge("loaded", color="positive")
            ui.space()
            ui.button(
                "Activate",
                icon="swap_horiz",
                on_click=lambda: _activate(dash, view, dialogs, refresh),
            ).props("outline").mark(f"activate-{meta.name}").set_enabled(is_admin)
            if not meta.remote:  # builds start from an ONNX file here; a remote has none
                _build_menu(dash, meta.name).set_enabled(is_admin)
            ui.button(icon="delete", on_click=lambda: _delete(dash, meta.name, refresh)).props(
                "flat round color=negative"
            ).tooltip("Delete").mark(f"delete-{meta.name}").set_enabled(is_admin)
        size = "×".join(str(v) for v in meta.input_size) if meta.input_size else "–"
        served = (view.backend, view.device, view.precision)
        runs_on = " · ".join(p for p in served if p) if view.backend else "not loaded"
        facts = [
            ("Format", meta.format),
            # a remote model has no file here: where it is served instead (never its token)
            ("Served by", meta.source)
            if meta.remote
            else ("Size", formatting.size(meta.size_bytes)),
            ("Input", size),
            ("Output", meta.output_family or "–"),
            ("Engine", runs_on),
            ("Cameras", ", ".join(view.cameras) or "none"),
        ]
        if not meta.remote:
            facts.append(("Source", meta.source))
        latency = meta.validation.get("latency_ms", {}).get("p50")
        if latency is not None:
            facts.append(("Benchmark", f"p50 {latency} ms"))
        with ui.row().classes("gap-x-8 gap-y-1 text-sm"):
            for key, value in facts:
                with ui.column().classes("gap-0"):
                    ui.label(key).classes("text-xs text-gray-500")
                    ui.label(value)
        if view.engine_note:  # engine: auto says why this backend serves it
            ui.label(view.engine_note).classes("text-xs text-gray-500").mark(f"note-{meta.name}")
        if meta.labels:
            with ui.expansion(f"{len(meta.labels)} labels").classes("w-full text-sm"):
                ui.label(", ".join(meta.labels)).classes("text-gray-600")


def _build_menu(dash: Dashboard, model: str) -> ui.button:
    async def build(kind: str) -> None:
        if session.ensure(dash, Scope.ADMIN):
            await submit_build(dash.services.jobs, model, kind, session.actor(dash))

    button = ui.button("Build", icon="construction").props("outline").mark(f"build-{model}")
    with button, ui.menu():
        for kind, (text, _) in BUILDS.items():
            ui.menu_item(text, on_click=lambda k=kind: build(k)).mark(f"build-{model}-{kind}")
    return button


def _activate(dash: Dashboard, view: ModelView, dialogs: ui.element, refresh) -> None:
    if not session.ensure(dash, Scope.ADMIN):
        return
    cameras = [v.config for v in dash.services.cameras.list()]
    options = {c.id: c.name for c in cameras}
    with dialogs.clear(), ui.dialog() as dialog, ui.card().classes("min-w-[420px]"):
        ui.label(f"Activate {view.meta.name}").classes("text-lg font-medium")
        scope = ui.radio(
            {"all": "Everywhere: every camera and the API default", "some": "Only these cameras"},
            value="all",
        ).mark("activate-scope")
        chosen = ui.select(options, multiple=True, label="Cameras").props("use-chips")
        chosen.classes("w-full").bind_visibility_from(scope, "value", value="some")
        chosen.mark("activate-cameras")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")

            async def go() -> None:
                targets = None if scope.value == "all" else list(chosen.value or [])
                if targets == []:
                    ui.notify("Pick at least one camera", type="warning")
                    return
                dialog.close()
                swap = dash.services.models.activate(view.meta.name, targets)
                cameras = ",".join(targets) if targets else "all"
                ok, report = await run_action(
                    audited_call(
                        "model.activate",
                        session.actor(dash),
                        swap,
                        target=view.meta.name,
                        cameras=cameras,
                    ),
                    busy=f"Loading and warming {view.meta.name}…",
                )
                dialog.delete()
                if ok and report is not None:
                    refresh()
                    with dialogs:
                        show_swap(report)

            ui.button("Activate", on_click=go).mark("activate-go")
    dialog.open()


async def _delete(dash: Dashboard, name: str, refresh) -> None:
    if not session.ensure(dash, Scope.ADMIN):
        return
    deleting = dash.services.models.delete(name)
    work = audited_call("model.delete", session.actor(dash), deleting, target=name)
    ok, _ = await run_action(work, busy="Deleting", done="Deleted")
    if ok:
        refresh()
