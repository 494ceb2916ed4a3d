"""One camera: large live view, boxes and motion on/off, confidence and class filters,
counting lines, zones and motion masks drawn on the picture, the motion gate's figures,
latencies, snapshot download and the most recent detections."""

from __future__ import annotations

import time
from collections import deque

from nicegui import ui

from appliance.auth.scopes import Scope
from appliance.domain import Detection
from appliance.errors import NotFoundError
from appliance.services.cameras import CameraService, CameraView
from ui import formatting, session
from ui.components.live_view import LiveView
from ui.components.mask_list import MaskList
from ui.components.motion_facts import MotionFacts
from ui.components.motion_toggle import MotionToggle
from ui.components.scene_editor import SceneEditor
from ui.components.scene_list import SceneList
from ui.context import Dashboard
from ui.feedback import run_action
from ui.layout import page_frame

STAGES = (
    "queue_ms",
    "preprocess_ms",
    "infer_ms",
    "postprocess_ms",
    "stages_ms",  # the camera's stages after inference (filter, later tracking, zones)
    "encode_ms",
    "delivery_ms",
)
RECENT = 30  # detections kept in the list


async def camera_page(dash: Dashboard, camera_id: str) -> None:
    cameras = dash.services.cameras
    try:
        view = cameras.get(camera_id)
    except NotFoundError:
        with page_frame(dash, "Camera not found", "/"):
            ui.label(f"There is no camera with id {camera_id!r}.")
            ui.button("Back to Live", on_click=lambda: ui.navigate.to("/"))
        return
    labels = await _model_labels(dash, view)
    with page_frame(dash, view.config.name, "/"), ui.row().classes("w-full gap-4 items-start"):
        with ui.column().classes("flex-[3] min-w-[320px] gap-2"):
            live = LiveView(cameras, camera_id, fps=15, url_for=dash.media_url)
            motion = _controls(dash, live, view, labels)
            masks = _scene(dash, live, labels)
            motion.on_toggle = lambda on: masks.show("motion overlay", on)
        with ui.column().classes("flex-[2] min-w-[280px] gap-4"):
            CameraFacts(cameras, camera_id, live, motion)


def _controls(dash: Dashboard, live: LiveView, view: CameraView, labels: list[str]) -> MotionToggle:
    cameras = dash.services.cameras
    camera_id = view.config.id
    may_change = session.can(dash, Scope.OPERATOR)
    with ui.card().classes("w-full"), ui.row().classes("w-full items-center gap-6"):
        ui.switch("Boxes", value=True, on_change=lambda e: live.set_annotate(e.value)).mark("boxes")
        motion = MotionToggle(live)
        with ui.column().classes("gap-0 min-w-[200px] flex-1"):
            conf_label = ui.label(f"Confidence ≥ {view.config.conf:.2f}").classes("text-sm")
            slider = ui.slider(min=0.05, max=0.95, step=0.05, value=view.config.conf)
            slider.mark("confidence").set_enabled(may_change)

        async def set_conf() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            value = round(float(slider.value), 2)
            ok, _ = await run_action(cameras.update(camera_id, {"conf": value}), busy="Saving")
            if ok:
                conf_label.set_text(f"Confidence ≥ {value:.2f}")

        slider.on("change", set_conf)  # on release, not for every step while dragging

        async def set_classes() -> None:
            if not session.ensure(dash, Scope.OPERATOR):
                return
            chosen = list(classes.value or []) or None
            await run_action(cameras.update(camera_id, {"classes": chosen}), busy="Saving")

        classes = ui.select(
            labels,
            multiple=True,
            value=list(view.config.classes or []),
            label="Only these",
            on_change=set_classes,
        )
        classes.props("use-chips clearable dense options-dense").classes("min-w-[220px]")
        classes.mark("classes").set_enabled(may_change)
        ui.button(icon="photo_camera", on_click=lambda: _download(dash, live)).props(
            "flat round"
        ).tooltip("Download a snapshot").mark("snapshot")
        _start_stop(dash, view)
    return motion


def _scene(dash: Dashboard, live: LiveView, labels: list[str]) -> MaskList:
    """Lines, zones and motion masks: drawn on the picture, then listed."""
    with ui.card().classes("w-full gap-2").mark("scene"):
        editor = SceneEditor(dash, live, labels, title="Lines, zones & masks")
        ui.separator()
        scene_list = SceneList(dash, live.camera_id)
        ui.separator()
        masks = MaskList(dash, live)

    def saved() -> None:
        scene_list.update()
        masks.update()

    editor.on_saved = saved
    editor.on_drawing = lambda kind: masks.show("mask editor", kind == "mask")
    return masks


async def _model_labels(dash: Dashboard, view: CameraView) -> list[str]:
    name = view.config.model or dash.services.detection.default_model
    try:
        return list((await dash.services.models.get(name)).meta.labels)
    except NotFoundError:  # a model given on the command line is not in the repository
        return []


def _download(dash: Dashboard, live: LiveView) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    url = f"/v1/cameras/{live.camera_id}/snapshot.jpg?annotate={int(live.annotate)}"
    ui.download.from_url(dash.media_url(url), filename=f"{live.camera_id}-{stamp}.jpg")


def _start_stop(dash: Dashboard, view: CameraView) -> None:
    cameras = dash.services.cameras
    camera_id = view.config.id

    async def toggle() -> None:
        if not session.ensure(dash, Scope.OPERATOR):
            return
        enabled = not cameras.get(camera_id).config.enabled
        verb = "Starting" if enabled else "Stopping"
        ok, _ = await run_action(cameras.set_enabled(camera_id, enabled), busy=verb)
        if ok:
            button.set_text("Stop" if enabled else "Start")

    button = ui.button("Stop" if view.config.enabled else "Start", on_click=toggle)
    button.props("outline").mark("start-stop").set_enabled(session.can(dash, Scope.OPERATOR))


class CameraFacts:
    """State, rates, the motion gate, stage latencies and recent detections, refreshed every
    second (the Motion switch follows whether the gate is on)."""

    def __init__(
        self, cameras: CameraService, camera_id: str, live: LiveView, motion: MotionToggle
    ) -> None:
        self._cameras, self._camera_id, self._live = cameras, camera_id, live
        self._motion_toggle = motion
        self._recent: deque[dict[str, str]] = deque(maxlen=RECENT)
        self._last_frame: int | None = None
        with ui.card().classes("w-full gap-1"):
            with ui.row().classes("items-center gap-2"):
                self.badge = ui.badge("").mark("state")
                self.source = ui.label().classes("text-xs text-gray-500 font-mono break-all")
            self.facts = ui.label().classes("text-sm")
            self.error = ui.label().classes("text-sm text-negative")
        self.motion = MotionFacts()
        with ui.card().classes("w-full"):
            ui.label("Stage latencies").classes("font-medium")
            columns = [
                {"name": "stage", "label": "Stage", "field": "stage", "align": "left"},
                {"name": "p50", "label": "p50", "field": "p50"},
                {"name": "p95", "label": "p95", "field": "p95"},
            ]
            self.stages = ui.table(columns=columns, rows=[], row_key="stage").props("dense flat")
            self.stages.classes("w-full").mark("stages")
        with ui.card().classes("w-full"):
            ui.label("Recent detections").classes("font-medium")
            columns = [
                {"name": "time", "label": "Time", "field": "time", "align": "left"},
                {"name": "label", "label": "Label", "field": "label", "align": "left"},
                {"name": "confidence", "label": "Confidence", "field": "confidence"},
            ]
            self.detections = ui.table(columns=columns, rows=[], row_key="key").props("dense flat")
            self.detections.classes("w-full max-h-80").mark("detections")
        self.update()
        ui.timer(1.0, self.update)

    def update(self) -> None:
        try:
            view = self._cameras.get(self._camera_id)
        except NotFoundError:
            self.badge.set_text("removed")
            return
        state = view.capture.state.value
        self.badge.set_text(state)
        self.badge.props(f"color={formatting.state_color(state)}")
        self.source.set_text(view.config.uri)
        self.facts.set_text(
            f"{formatting.fps(view.capture.fps_in)} in · {view.fps_out:.1f} fps out · "
            f"{formatting.age(view.capture.frame_age_s)} · {view.capture.reconnects} reconnects"
            f" · {formatting.count(view.viewers, 'viewer')}"
        )
        self.error.set_text(view.inference_error or view.capture.last_error or "")
        self.motion.update(view, self._live.frame)
        self._motion_toggle.follow(view)
        self.stages.rows = [
            {
                "stage": stage.removesuffix("_ms"),
                "p50": formatting.ms(view.stages[stage]["p50"]),
                "p95": formatting.ms(view.stages[stage]["p95"]),
            }
            for stage in STAGES
            if stage in view.stages
        ]
        self.stages.update()
        self._collect_detections()

    def _collect_detections(self) -> None:
        frame = self._live.frame
        if frame is None or frame.frame_id == self._last_frame:
            return
        self._last_frame = frame.frame_id
        when = time.strftime("%H:%M:%S", time.localtime(frame.captured_at))
        for index, d in enumerate(frame.result.detections):
            key = f"{self._last_frame}-{index}"
            self._recent.appendleft(
                {"key": key, "time": when, "label": _name(d), "confidence": f"{d.confidence:.2f}"}
            )
        self.detections.rows = list(self._recent)
        self.detections.update()


def _name(d: Detection) -> str:
    """`person #12` for a tracked object, `person` otherwise."""
    return d.label if d.track_id is None else f"{d.label} #{d.track_id}"
