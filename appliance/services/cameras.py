"""Cameras as a service: configuration, persistence, and the running pipeline of each."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from appliance.config import CameraConfig, ConfigStore, RuntimeConfig
from appliance.domain import CameraState
from appliance.errors import ApplianceError, ConflictError
from appliance.pipeline.broadcast import Broadcaster, EncodedFrame
from appliance.pipeline.camera import CameraWorker, CaptureStatus
from appliance.pipeline.scheduler import CameraFeed, InferenceWorker
from appliance.services.camera_views import (
    CameraLimits,
    CameraNotFoundError,
    CameraView,
    CaptureTiming,
    Running,
)
from appliance.services.detection import DetectionService
from appliance.services.events import EventBus
from appliance.sources import FrameSource, SourceOptions, open_source, parse_uri, redact

LiveFeed = Broadcaster  # what the API streams from: one camera's processed, encoded frames
LiveFrame = EncodedFrame  # one of those frames: JPEG bytes and what was found in it
DEMO_CAMERA = CameraConfig(id="demo", name="Demo scene", uri="demo://")
_CAPTURE_FIELDS = ("uri", "model", "width", "height", "capture_fps", "fourcc")
SourceFactory = Callable[[CameraConfig], FrameSource]


class CameraService:
    def __init__(
        self,
        store: ConfigStore,
        detection: DetectionService,
        events: EventBus,
        *,
        timing: CaptureTiming | None = None,
        source_factory: SourceFactory | None = None,
        on_stages: Callable[[str, dict[str, float]], None] | None = None,
        limits: CameraLimits | None = None,
    ) -> None:
        self._store = store
        self._limits = limits or CameraLimits(max_viewers=None)
        self._detection = detection
        self._events = events
        self._timing = timing or CaptureTiming()
        self._source_factory = source_factory or self._open_source
        self._on_stages = on_stages
        self._configs: dict[str, CameraConfig] = {}
        self._broadcasters: dict[str, Broadcaster] = {}
        self._running: dict[str, Running] = {}
        self._inference: dict[str, InferenceWorker] = {}
        self._errors: dict[str, str | None] = {}
        self._default_model: str | None = None  # saved with the cameras
        self._lock = threading.RLock()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the saved cameras (the demo camera on a first start) and start them."""
        saved = self._store.load()
        cameras = saved.cameras if saved is not None else [DEMO_CAMERA]
        for config in cameras:
            self._configs[config.id] = config
            self._broadcasters[config.id] = self._new_broadcaster(config.id)
        for config in cameras:
            if not config.enabled:
                continue
            try:
                await asyncio.to_thread(self._start_runtime, config)
            except ApplianceError as exc:  # e.g. its model is gone: the others still start
                logger.error("camera {} not started: {}", config.id, exc.message)
                self._errors[config.id] = exc.message

    def saved_models(self) -> tuple[set[str], str | None]:
        """Models the saved cameras name, and the model activated for everything, if any
        (loaded before the cameras start)."""
        saved = self._store.load()
        if saved is None:
            return set(), None
        self._default_model = saved.default_model
        return {c.model for c in saved.cameras if c.model}, saved.default_model

    def remember_default(self, model: str) -> None:
        """Keep a global activation across restarts."""
        with self._lock:
            self._default_model = model
            self._save()

    async def watch_stalls(self, every_s: float = 0.5) -> None:
        """Runs for the life of the app: capture threads blocked in read() can't see stalls."""
        while True:
            with self._lock:
                workers = [running.worker for running in self._running.values()]
            for worker in workers:
                worker.check_stall()
            await asyncio.sleep(every_s)

    def end_streams(self) -> None:
        """Shutdown began: end every open stream now so it does not hold the server up."""
        for broadcaster in list(self._broadcasters.values()):
            broadcaster.close()

    def close(self) -> None:
        with self._lock:
            ids = list(self._running)
        for camera_id in ids:
            self._stop_runtime(camera_id)
        for worker in self._inference.values():
            worker.stop()
        self._inference.clear()
        self.end_streams()
        for broadcaster in list(self._broadcasters.values()):
            broadcaster.join()

    # --- queries ---------------------------------------------------------------------------

    def list(self) -> list[CameraView]:
        with self._lock:
            ids = list(self._configs)
        return [self.get(camera_id) for camera_id in ids]

    def get(self, camera_id: str) -> CameraView:
        with self._lock:
            config = self._require(camera_id)
            running = self._running.get(camera_id)
            broadcaster = self._broadcasters[camera_id]
        capture = (
            running.worker.status()
            if running is not None
            else CaptureStatus(CameraState.STOPPED, 0.0, None, 0, 0, None)
        )
        return CameraView(
            config=_redacted(config),
            capture=capture,
            fps_out=broadcaster.fps_out.rate() if running is not None else 0.0,
            viewers=broadcaster.viewers,
            jpeg_encodes=broadcaster.encodes,
            stages=broadcaster.stages.summary(),
            inference_error=self._errors.get(camera_id),
        )

    async def use_model(self, camera_ids: list[str] | None, model: str | None) -> list[str]:
        """Point cameras (all when None) at `model` between two frames, capture untouched:
        each camera's feed leaves the old inference worker and joins the new one. Returns
        the ids switched. Saved, so the choice survives a restart."""
        with self._lock:
            ids = list(self._configs) if camera_ids is None else camera_ids
            for camera_id in ids:
                self._require(camera_id)
            for camera_id in ids:
                updated = self._configs[camera_id].model_copy(update={"model": model})
                self._configs[camera_id] = updated
                running = self._running.get(camera_id)
                if running is None:
                    continue
                new = self._inference_for(model)
                running.inference.remove(camera_id)
                running.feed.params = self._params(updated)
                running.inference = new
                new.add(running.feed)
            self._save()
        await asyncio.to_thread(self._stop_idle_inference)
        return ids

    def models_in_use(self) -> set[str]:
        """Names of the models the running cameras use (the default's name for None)."""
        with self._lock:
            return {r.inference.detector.ref.name for r in self._running.values()}

    def assigned_models(self) -> dict[str, str | None]:
        """Each camera's configured model (None: the default), without building full views."""
        with self._lock:
            return {camera_id: config.model for camera_id, config in self._configs.items()}

    def cameras_using(self, model: str) -> set[str]:
        with self._lock:
            return {i for i, r in self._running.items() if r.inference.detector.ref.name == model}

    def _stop_idle_inference(self) -> None:
        """Stop inference workers no camera feeds any more (their in-flight frame finishes)."""
        with self._lock:
            used = {id(r.inference) for r in self._running.values()}
            idle = {k: w for k, w in self._inference.items() if id(w) not in used}
            for key in idle:
                del self._inference[key]
        for worker in idle.values():
            worker.stop()

    def hung_workers(self, limit_s: float) -> list[str]:
        """Names of capture and inference threads that made no progress for `limit_s`."""
        now = time.monotonic()
        with self._lock:
            cameras = [(i, r.worker) for i, r in self._running.items()]
            inference = list(self._inference.values())
        hung = [f"camera {camera_id}" for camera_id, w in cameras if w.hung(limit_s)]
        hung += [
            f"inference {w.detector.ref.name}" for w in inference if now - w.heartbeat > limit_s
        ]
        return hung

    @property
    def media_roots(self) -> tuple[Path, ...] | None:
        """Folders file:// sources may read (None: any), for a caller probing a URI."""
        return self._limits.media_roots

    def broadcaster(self, camera_id: str) -> LiveFeed:
        with self._lock:
            self._require(camera_id)
            return self._broadcasters[camera_id]

    # --- changes ---------------------------------------------------------------------------

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
            self._broadcasters[config.id] = self._new_broadcaster(config.id)
            self._save()
        self._events.publish("camera.created", camera=config.id)
        if config.enabled:
            await asyncio.to_thread(self._start_runtime, config)
        return self.get(config.id)

    async def update(self, camera_id: str, changes: dict[str, Any]) -> CameraView:
        """Apply changed fields; the camera restarts only if how it captures changed."""
        with self._lock:
            current = self._require(camera_id)
        updated = CameraConfig.model_validate({**current.model_dump(), **changes, "id": camera_id})
        self._validate(updated)
        with self._lock:
            self._configs[camera_id] = updated
            self._save()
        restart = any(getattr(current, k) != getattr(updated, k) for k in _CAPTURE_FIELDS)
        with self._lock:
            running = self._running.get(camera_id)
        if running is not None and updated.enabled and not restart:
            running.feed.params = self._params(updated)  # read per frame by the scheduler
            running.feed.fps_limit = updated.fps_limit
        else:
            await asyncio.to_thread(self._stop_runtime, camera_id)
            if updated.enabled:
                await asyncio.to_thread(self._start_runtime, updated)
        self._events.publish("camera.updated", camera=camera_id, fields=sorted(changes))
        return self.get(camera_id)

    async def delete(self, camera_id: str) -> None:
        with self._lock:
            self._require(camera_id)
        await asyncio.to_thread(self._stop_runtime, camera_id)
        with self._lock:
            del self._configs[camera_id]
            broadcaster = self._broadcasters.pop(camera_id)
            self._errors.pop(camera_id, None)
            self._save()
        broadcaster.close()
        await asyncio.to_thread(broadcaster.join)
        self._events.publish("camera.deleted", camera=camera_id)

    async def set_enabled(self, camera_id: str, enabled: bool) -> CameraView:
        with self._lock:
            config = self._require(camera_id).model_copy(update={"enabled": enabled})
            self._configs[camera_id] = config
            self._save()
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
        self._detection.detector(config.model)
        self._params(config)

    def _params(self, config: CameraConfig):
        return self._detection.params(
            config.model, conf=config.conf, iou=0.45, max_det=300, classes=config.classes
        )

    def _save(self) -> None:
        cameras = list(self._configs.values())
        self._store.save(RuntimeConfig(cameras=cameras, default_model=self._default_model))

    def _open_source(self, config: CameraConfig) -> FrameSource:
        options = SourceOptions(
            width=config.width,
            height=config.height,
            fps=config.capture_fps,
            fourcc=config.fourcc,
            read_timeout_s=self._timing.reconnect_after_s,
        )
        return open_source(config.uri, options, allowed_roots=self._limits.media_roots)

    def _new_broadcaster(self, camera_id: str) -> Broadcaster:
        return Broadcaster(
            camera_id, on_stages=self._on_stages, max_viewers=self._limits.max_viewers
        )

    def _start_runtime(self, config: CameraConfig) -> None:
        """Start capture and join the model's inference worker (blocking: run in a thread)."""
        with self._lock:
            if config.id in self._running:
                self._stop_runtime(config.id)
            inference = self._inference_for(config.model)
            broadcaster = self._broadcasters[config.id]
            worker = CameraWorker(
                config.id,
                lambda: self._source_factory(config),
                stall_after_s=self._timing.stall_after_s,
                backoff=self._timing.backoff,
                on_state=self._state_changed,
                on_frame=lambda camera_id=config.id: self._notify(camera_id),
            )
            feed = CameraFeed(
                config.id,
                worker.frames,
                self._params(config),
                broadcaster.publish,
                config.fps_limit,
            )
            self._running[config.id] = Running(worker, feed, inference)
            self._errors[config.id] = None
        inference.add(feed)
        worker.start()

    def _stop_runtime(self, camera_id: str) -> None:
        with self._lock:
            running = self._running.pop(camera_id, None)
        if running is None:
            return
        running.inference.remove(camera_id)
        running.worker.stop()

    def _inference_for(self, model: str | None) -> InferenceWorker:
        """The worker of the detector now serving `model` (one per loaded engine)."""
        detector = self._detection.detector(model)
        key = f"{detector.ref.name}@{detector.ref.version}"
        worker = self._inference.get(key)
        if worker is None or worker.detector is not detector:
            worker = InferenceWorker(detector, on_error=self._inference_failed)
            worker.start()
            self._inference[key] = worker
        return worker

    def _notify(self, camera_id: str) -> None:
        """A camera has a new frame: wake whichever inference worker serves it now."""
        running = self._running.get(camera_id)
        if running is not None:
            running.inference.notify()

    def _state_changed(self, camera_id: str, state: CameraState, reason: str | None) -> None:
        self._events.publish("camera.state", camera=camera_id, state=state.value, reason=reason)

    def _inference_failed(self, camera_id: str, message: str | None) -> None:
        """The scheduler's report: why inference failed, or None once a frame went through
        again (a good model activated). Logged and published on change only."""
        previous = self._errors.get(camera_id)
        if previous == message:
            return
        self._errors[camera_id] = message
        if message is None:
            logger.info("camera {}: inference works again", camera_id)
            self._events.publish("camera.recovered", camera=camera_id)
        else:
            logger.error("camera {}: inference failed: {}", camera_id, message)
            self._events.publish("camera.error", camera=camera_id, error=message)


def _redacted(config: CameraConfig) -> CameraConfig:
    return config.model_copy(update={"uri": redact(config.uri)})
