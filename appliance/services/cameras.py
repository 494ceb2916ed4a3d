"""Cameras as a service: their configuration and its persistence. The running parts of each
camera belong to the Pipeline; this service tells it what to run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import ValidationError

from appliance.config import CameraConfig, ConfigStore, MaskConfig, MotionConfig
from appliance.domain import DetectParams
from appliance.errors import ApplianceError, ConflictError, InvalidInputError
from appliance.models.nested import NESTED_FLOOR
from appliance.pipeline.camera import CaptureTiming
from appliance.pipeline.camera_runtime import CameraPlan
from appliance.pipeline.feeds import FeedPlan
from appliance.pipeline.runtime import Pipeline
from appliance.pipeline.stages import DetectionFilter
from appliance.services.camera_views import (
    CameraLimits,
    CameraNotFoundError,
    CameraView,
    gate_plan,
)
from appliance.services.event_recording import EventRecording
from appliance.services.events import EventBus
from appliance.services.live import LiveViewer
from appliance.services.model_specs import class_ids
from appliance.services.scene_state import SceneRegistry
from appliance.services.serving import ServingService
from appliance.sources import FrameSource, SourceOptions, open_source, parse_uri, redact
from appliance.sources.demo_scene import CAPTION_MASK

# What a first run starts: light enough that a laptop's fans stay quiet. The scene rests
# 20 s of every 30 (the motion gate then infers 0.2-2 frames a second), and while it
# glides the detector runs 5 times a second (the frames between are carried: the picture
# stays at 15 fps, the slow photos' boxes a moment behind). The caption changes every
# frame: masked, so only the photos count as motion.
DEMO_CAMERA = CameraConfig(
    id="demo",
    name="Demo scene",
    uri="demo://",
    fps_limit=5,
    motion=MotionConfig(masks=[MaskConfig(points=list(CAPTION_MASK))]),
)
_CAPTURE_FIELDS = ("uri", "model", "width", "height", "capture_fps", "fourcc")
_MERGED = ("events", "motion")  # settings objects: PATCH merges them (lines, zones: replaced)
# the engine decodes camera frames down to this score (or the camera's own, if lower), so
# the tracker sees the weaker boxes too; the same floor nested-box merging looks down to, so
# a camera and a detect request merge the same boxes
DECODE_FLOOR = NESTED_FLOOR
SourceFactory = Callable[[CameraConfig], FrameSource]
__all__ = ["CameraLimits", "CameraService", "CameraView", "CaptureTiming", "LiveViewer"]


class CameraService:
    def __init__(
        self,
        store: ConfigStore,
        serving: ServingService,
        pipeline: Pipeline,
        events: EventBus,
        *,
        timing: CaptureTiming | None = None,
        source_factory: SourceFactory | None = None,
        limits: CameraLimits | None = None,
        scene: SceneRegistry | None = None,
        recording: EventRecording | None = None,
    ) -> None:
        self._store = store
        self._serving = serving
        self._pipeline = pipeline
        self._events = events
        self._timing = timing or CaptureTiming()
        self._limits = limits or CameraLimits(max_viewers=None)
        self._source_factory = source_factory or self._open_source
        self._configs: dict[str, CameraConfig] = {}
        self.scene = scene or SceneRegistry(store, events)
        self.recording = recording  # None: no events are recorded
        self._lock = threading.RLock()
        serving.attach(self)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the saved cameras (the demo camera on a first start) and start them."""
        saved = await asyncio.to_thread(self._store.load)
        cameras = saved.cameras if saved is not None else [DEMO_CAMERA]
        self.scene.restore(saved.counts if saved is not None else {})
        for config in cameras:
            self._configs[config.id] = config
            self._pipeline.add(config.id)
        for config in cameras:
            if not config.enabled:
                continue
            try:
                await asyncio.to_thread(self._start_runtime, config)
            except ApplianceError as exc:  # e.g. its model is gone: the others still start
                logger.error("camera {} not started: {}", config.id, exc.message)

    async def watch_stalls(self, every_s: float = 0.5) -> None:
        """Runs for the life of the app: capture threads blocked in read() can't see stalls."""
        while True:
            self._pipeline.check_stalls()
            if self.recording is not None:  # a stalled camera's objects have left too
                self.recording.expire(time.monotonic())
            await asyncio.sleep(every_s)

    def end_streams(self) -> None:
        """Shutdown began: end every open stream now so it does not hold the server up."""
        self._pipeline.end_streams()

    def close(self) -> None:
        self._pipeline.close()
        if self.recording is not None:
            self.recording.close()  # open events end, clips finish
        try:
            self.scene.flush()  # the last few seconds of counts
        except (OSError, ApplianceError) as exc:
            logger.error("saving line and zone counts failed: {}", exc)

    # --- queries ---------------------------------------------------------------------------

    def list(self) -> list[CameraView]:
        with self._lock:
            ids = list(self._configs)
        return [self.get(camera_id) for camera_id in ids]

    def get(self, camera_id: str) -> CameraView:
        with self._lock:
            config = self._require(camera_id)
        status = self._pipeline.status(camera_id)
        return CameraView(
            config=config.model_copy(update={"uri": redact(config.uri)}),
            capture=status.capture,
            fps_out=status.fps_out,
            viewers=status.viewers,
            jpeg_encodes=status.jpeg_encodes,
            stages=status.stages,
            inference_error=status.error,
            gate=status.gate,
        )

    def watch(
        self,
        camera_id: str,
        annotate: bool | None,
        *,
        preview: bool = False,
        fps: float | None = None,
    ) -> LiveViewer:
        """A viewer of the camera's frames: annotated or raw JPEGs (`annotate` None: the
        detections only), admitted now (TooManyViewersError when the camera is full)."""
        with self._lock:
            self._require(camera_id)
        variant = None if annotate is None else (annotate, preview)
        return LiveViewer(self._pipeline.watch(camera_id, variant, fps))

    def assigned_models(self) -> dict[str, str | None]:
        """Each camera's configured model (None: the default), without building full views."""
        with self._lock:
            return {camera_id: config.model for camera_id, config in self._configs.items()}

    def cameras_using(self, model: str) -> set[str]:
        """Running cameras whose frames the model named `model` infers now."""
        return self._pipeline.cameras_on(model)

    def hung_workers(self, limit_s: float) -> list[str]:
        return self._pipeline.hung_workers(limit_s)

    @property
    def media_roots(self) -> tuple[Path, ...] | None:
        """Folders file:// sources may read (None: any), for a caller probing a URI."""
        return self._limits.media_roots

    # --- changes ---------------------------------------------------------------------------

    def reroute(self, camera_ids: list[str] | None, model: str | None) -> list[str]:
        """Point cameras (all when None) at `model` (None: the default) between two frames,
        capture untouched; saved (blocking: serving calls it from a thread). Returns the
        ids switched."""
        with self._lock:
            ids = list(self._configs) if camera_ids is None else camera_ids
            updated = {}
            for camera_id in ids:
                config = self._require(camera_id).model_copy(update={"model": model})
                updated[camera_id] = (config, self._plan(config))
            detector = self._serving.detector(model)
            self._pipeline.route({c: (detector, plan) for c, (_, plan) in updated.items()})
            for camera_id, (config, _) in updated.items():
                self._configs[camera_id] = config
            self._save()
        return ids

    async def create(self, config: CameraConfig) -> CameraView:
        self._validate(config)
        with self._lock:
            if config.id in self._configs:
                raise ConflictError(f"a camera with id {config.id!r} exists")
            if len(self._configs) >= self._limits.max_cameras:
                raise ConflictError(
                    f"{self._limits.max_cameras} cameras are configured, the most allowed "
                    "(APPLIANCE_MAX_CAMERAS): delete one first"
                )
            self._configs[config.id] = config
            self._pipeline.add(config.id)
        await asyncio.to_thread(self._save)
        self._events.publish("camera.created", camera=config.id)
        if config.enabled:
            await asyncio.to_thread(self._start_runtime, config)
        return self.get(config.id)

    async def update(self, camera_id: str, changes: dict[str, Any]) -> CameraView:
        """Apply changed fields; the camera restarts only if how it captures changed."""
        with self._lock:
            current = self._require(camera_id)
        fields = current.model_dump()
        for name in _MERGED:  # a partial `motion` or `events` changes only what it names
            if isinstance(changes.get(name), dict):
                changes = {**changes, name: {**fields[name], **changes[name]}}
        try:
            updated = CameraConfig.model_validate({**fields, **changes, "id": camera_id})
        except ValidationError as exc:  # fields valid alone, not together (lines, no tracking)
            raise InvalidInputError(exc.errors()[0]["msg"]) from None
        self._validate(updated)
        with self._lock:
            self._configs[camera_id] = updated
        await asyncio.to_thread(self._save)
        self.scene.retain(updated)
        restart = any(getattr(current, k) != getattr(updated, k) for k in _CAPTURE_FIELDS)
        if updated.enabled and current.enabled and not restart:
            self._pipeline.retune(camera_id, self._plan(updated))
        else:
            await asyncio.to_thread(self._stop_runtime, camera_id)
            if updated.enabled:
                await asyncio.to_thread(self._start_runtime, updated)
        self._events.publish("camera.updated", camera=camera_id, fields=sorted(changes))
        return self.get(camera_id)

    async def delete(self, camera_id: str) -> None:
        with self._lock:
            self._require(camera_id)
        await asyncio.to_thread(self._pipeline.remove, camera_id)
        with self._lock:
            del self._configs[camera_id]
        self.scene.drop(camera_id)
        if self.recording is not None:
            await asyncio.to_thread(self.recording.drop_camera, camera_id)
        await asyncio.to_thread(self._save)
        self._events.publish("camera.deleted", camera=camera_id)

    async def set_enabled(self, camera_id: str, enabled: bool) -> CameraView:
        with self._lock:
            config = self._require(camera_id).model_copy(update={"enabled": enabled})
            self._configs[camera_id] = config
        await asyncio.to_thread(self._save)
        if enabled:
            await asyncio.to_thread(self._start_runtime, config)
        else:
            await asyncio.to_thread(self._stop_runtime, camera_id)
        return self.get(camera_id)

    # --- internals -------------------------------------------------------------------------

    def _require(self, camera_id: str) -> CameraConfig:
        config = self._configs.get(camera_id)
        if config is None:
            raise CameraNotFoundError(f"no camera with id {camera_id!r}")
        return config

    def _validate(self, config: CameraConfig) -> None:
        """Refuse what could never run: a bad URI, an unknown model or class."""
        parse_uri(config.uri, self._limits.media_roots)
        labels = self._serving.detector(config.model).labels
        counted = [*config.lines.values(), *config.zones.values()]
        for classes in (config.classes, *(item.classes for item in counted)):
            class_ids(classes, labels)

    def _plan(self, config: CameraConfig) -> CameraPlan:
        """What the camera's config asks of inference and of the stages after it: the class
        filter, then (while it tracks) the tracker, which sees the weak boxes and continues
        tracks on them, then the lines and zones."""
        labels = self._serving.detector(config.model).labels
        params = DetectParams(conf=min(config.conf, DECODE_FLOOR), iou=0.45, max_det=300)
        classes = class_ids(config.classes, labels)
        tracking = self.scene.stages(config, labels)
        keep = DetectionFilter(conf=params.conf if tracking else config.conf, classes=classes)
        recording = self.recording.stages(config, labels) if self.recording else ()
        feed = FeedPlan(params, config.fps_limit, gate_plan(config.motion))
        return CameraPlan(feed, stages=(keep, *tracking, *recording))

    def _save(self) -> None:
        """Write the cameras (blocking: call from a thread)."""
        with self._lock:
            cameras = list(self._configs.values())
        self._store.update(lambda saved: saved.model_copy(update={"cameras": cameras}))

    def _open_source(self, config: CameraConfig) -> FrameSource:
        options = SourceOptions(
            width=config.width,
            height=config.height,
            fps=config.capture_fps,
            fourcc=config.fourcc,
            read_timeout_s=self._timing.reconnect_after_s,
        )
        return open_source(config.uri, options, allowed_roots=self._limits.media_roots)

    def _stop_runtime(self, camera_id: str) -> None:
        """Stop capture (blocking); the camera's open events end with it."""
        self._pipeline.stop(camera_id)
        if self.recording is not None:
            self.recording.stop_camera(camera_id)

    def _start_runtime(self, config: CameraConfig) -> None:
        """Start capture on the model's inference worker (blocking: run in a thread)."""
        detector = self._serving.detector(config.model)
        plan = self._plan(config)
        self._pipeline.start(config.id, lambda: self._source_factory(config), detector, plan)
