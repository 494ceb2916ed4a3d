"""Serving models: the one place that knows which engine serves each model name, which model
is the default, and how a new one is activated (blue/green, with rollback). Detect requests
and cameras reach an engine only through its inference worker in the pipeline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import psutil
from loguru import logger

from appliance.config import ConfigStore
from appliance.domain import DetectionResult, DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.errors import ApplianceError, ModelLoadError, ModelNotFoundError, NotReadyError
from appliance.models.detector import DecodedImage, Detector
from appliance.models.engine_select import EngineSelector
from appliance.pipeline.runtime import Pipeline
from appliance.services.model_specs import (
    LoadedModel,
    ModelSpec,
    Readiness,
    ServiceState,
    SwapReport,
)


class CameraRouter(Protocol):
    """What serving needs of the cameras to move them between models."""

    def assigned_models(self) -> dict[str, str | None]: ...

    def reroute(self, camera_ids: list[str] | None, model: str | None) -> list[str]: ...


class ServingService:
    def __init__(
        self,
        specs: Sequence[ModelSpec],
        config: OnnxRuntimeConfig,
        pipeline: Pipeline,
        store: ConfigStore,
        selector: EngineSelector | None = None,
    ) -> None:
        """`selector` picks each model's backend (engine: auto); none: ONNX Runtime."""
        if not specs:
            raise ModelLoadError("at least one model must be configured")
        for spec in specs:
            if spec.path is not None and not spec.path.is_file():
                raise ModelLoadError(f"model file {spec.path} does not exist")
        self._specs = list(specs)
        self._config = config
        self._selector = selector
        self._pipeline = pipeline
        self._store = store
        self._router: CameraRouter | None = None
        self._detectors: dict[str, Detector] = {}
        self._default = specs[0].name
        self._lock = threading.RLock()
        self._swap_lock = asyncio.Lock()
        self.readiness = Readiness()

    def attach(self, router: CameraRouter) -> None:
        """The cameras, once built (they need serving to start; serving moves them)."""
        self._router = router

    # --- start and stop ------------------------------------------------------------------

    def saved(self) -> tuple[set[str], str | None]:
        """Models the saved cameras name, and the default last activated for everything
        (blocking: reads the config file)."""
        saved = self._store.load()
        if saved is None:
            return set(), None
        return {c.model for c in saved.cameras if c.model}, saved.default_model

    def restore(self, specs: Sequence[ModelSpec], default: str | None) -> None:
        """Models saved cameras use, and the default last activated, to load at start."""
        known = {spec.name for spec in self._specs}
        self._specs += [spec for spec in specs if spec.name not in known]
        if default is not None and default in {spec.name for spec in self._specs}:
            self._default = default

    async def start(self) -> None:
        """Load and warm every model; readiness says how it went. Never raises."""
        try:
            for spec in self._specs:
                # every batch size now, before READY: ONNX Runtime's arena then has its
                # size from the start instead of growing whenever a larger batch first comes
                batch = self._pipeline.max_batch
                detector, _, warmup_ms = await asyncio.to_thread(self._load_and_warm, spec, batch)
                with self._lock:
                    self._detectors[spec.name] = detector
                self.readiness.models.append(LoadedModel.of(detector, warmup_ms))
                logger.info(
                    "model {} {} loaded on {}/{}, warm-up {:.0f} ms",
                    spec.name, detector.ref.version, detector.engine.backend,
                    detector.engine.device, warmup_ms,
                )  # fmt: skip
            self.readiness.state = ServiceState.READY
        except ApplianceError as exc:
            self.readiness.state, self.readiness.error = ServiceState.FAILED, exc.message
            logger.error("models failed to load: {}", exc.message)
        except Exception as exc:
            self.readiness.state, self.readiness.error = ServiceState.FAILED, repr(exc)
            logger.exception("models failed to load")

    def close(self) -> None:
        """After the pipeline stopped its workers: free every engine."""
        with self._lock:
            detectors = list(self._detectors.values())
            self._detectors.clear()
        for detector in detectors:
            detector.close()

    # --- queries -------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self._default

    @property
    def model_names(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys([*(s.name for s in self._specs), *self._detectors]))

    @property
    def loaded(self) -> dict[str, Detector]:
        with self._lock:
            return dict(self._detectors)

    def models_in_use(self) -> set[str]:
        """The default model and every model a camera is configured with."""
        assert self._router is not None, "serving has no cameras attached"
        default = self._default
        return {model or default for model in self._router.assigned_models().values()} | {default}

    def detector(self, name: str | None) -> Detector:
        """The detector serving `name` (None: the default model) now."""
        with self._lock:
            return self._detector_locked(name)

    def _detector_locked(self, name: str | None) -> Detector:
        name = name or self._default
        if name not in self._detectors and name not in {spec.name for spec in self._specs}:
            raise ModelNotFoundError(f"no model named {name!r}; loaded: {self.model_names}")
        if self.readiness.state is ServiceState.FAILED:
            raise NotReadyError(f"not ready: {self.readiness.error}")
        if self.readiness.state is ServiceState.LOADING:
            raise NotReadyError("not ready: models are still loading", retry_after=1.0)
        if name not in self._detectors:
            raise ModelNotFoundError(f"model {name!r} is not loaded; loaded: {self.model_names}")
        return self._detectors[name]

    # --- inference -----------------------------------------------------------------------

    async def detect(
        self, model: str | None, images: list[DecodedImage], params: DetectParams
    ) -> list[DetectionResult]:
        """Through the model's inference worker, in turn with its cameras' frames. Resolving
        the model and queueing happen under the lock a swap takes, so a request is never
        queued on an engine being retired: no request fails during a swap."""
        with self._lock:
            answer = self._pipeline.detect(self._detector_locked(model), images, params)
        return await asyncio.wrap_future(answer)

    async def infer_tensor(self, model: str | None, tensor: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            answer = self._pipeline.infer_tensor(self._detector_locked(model), tensor)
        return await asyncio.wrap_future(answer)

    # --- activation ----------------------------------------------------------------------

    async def activate(self, spec: ModelSpec, cameras: list[str] | None) -> SwapReport:
        """Blue/green: load (or connect) and warm the new engine beside the old, move every
        affected camera (and, for all, the detect API's default) to it between two frames,
        then retire and close what no longer serves. A failed load or switch changes nothing."""
        name = spec.name
        async with self._swap_lock:
            rss_before = _rss_mb()
            try:
                # one image: warming every batch size takes ~10x longer, and beside a
                # serving engine on a small machine that skips camera frames
                detector, load_ms, warmup_ms = await asyncio.to_thread(self._load_and_warm, spec, 1)
            except ApplianceError as exc:
                raise ModelLoadError(f"{name} was not activated: {exc.message}") from None
            start = time.perf_counter()
            try:
                switched, replaced = await asyncio.to_thread(self._switch, detector, cameras)
            except ApplianceError as exc:  # e.g. a camera filters on a class it lacks
                raise ModelLoadError(f"{name} was not activated: {exc.message}") from None
            switch_ms = (time.perf_counter() - start) * 1000
            self.readiness.models = [m for m in self.readiness.models if m.name != name]
            self.readiness.models.append(LoadedModel.of(detector, warmup_ms))
            released = await asyncio.to_thread(self._release, replaced)
            return SwapReport(
                model=name,
                version=detector.ref.version,
                cameras=switched,
                default=cameras is None,
                load_ms=round(load_ms, 1),
                warmup_ms=round(warmup_ms, 1),
                switch_ms=round(switch_ms, 2),
                rss_before_mb=round(rss_before, 1),
                rss_after_mb=round(_rss_mb(), 1),
                released=released,
            )

    def _switch(
        self, detector: Detector, cameras: list[str] | None
    ) -> tuple[list[str], Detector | None]:
        """Serve `detector` under its name (and as the default for all); move the cameras.
        Anything failing puts the previous state back and closes the new detector."""
        assert self._router is not None, "serving has no cameras attached"
        name = detector.ref.name
        with self._lock:
            replaced = self._detectors.get(name)
            default_before = self._default
            self._detectors[name] = detector
            if cameras is None:
                self._default = name
        assigned_before = self._router.assigned_models()
        try:
            if replaced is not None and cameras is not None:
                # a new version of a model other cameras use: they move too
                users = self._pipeline.cameras_on(name)
                cameras = sorted(set(cameras) | users)
            switched = self._router.reroute(cameras, None if cameras is None else name)
            if cameras is None:
                self._store.update(lambda saved: saved.model_copy(update={"default_model": name}))
        except BaseException:
            self._rollback(detector, replaced, default_before, assigned_before)
            raise
        return switched, replaced

    def _rollback(
        self,
        detector: Detector,
        replaced: Detector | None,
        default: str,
        assigned: dict[str, str | None],
    ) -> None:
        name = detector.ref.name
        with self._lock:
            if replaced is not None:
                self._detectors[name] = replaced
            else:
                self._detectors.pop(name, None)
            self._default = default
        assert self._router is not None
        try:
            for model in set(assigned.values()):
                back = [c for c, m in assigned.items() if m == model]
                self._router.reroute(back, model)
        finally:
            self._pipeline.retire(detector)
            detector.close()
        logger.warning("activation of {} rolled back", name)

    def _release(self, replaced: Detector | None) -> list[str]:
        """Retire and close engines nothing serves any more: a replaced version, and models
        no camera uses that are not the default."""
        released = []
        if replaced is not None:
            self._pipeline.retire(replaced)
            replaced.close()
            released.append(f"{replaced.ref.name}@{replaced.ref.version}")
        in_use = self.models_in_use()
        with self._lock:
            idle = {n: d for n, d in self._detectors.items() if n not in in_use}
            for unused in idle:
                del self._detectors[unused]
        self.readiness.models = [m for m in self.readiness.models if m.name not in idle]
        for unused, detector in idle.items():
            self._pipeline.retire(detector)
            detector.close()
            released.append(unused)
        return released

    def _load_and_warm(self, spec: ModelSpec, batch: int) -> tuple[Detector, float, float]:
        """Load a model beside the ones serving and warm it at batches of up to `batch`
        images (blocking: run in a thread)."""
        start = time.perf_counter()
        if spec.remote is not None:
            detector = Detector.connect(spec.name, spec.remote)
        else:
            assert spec.path is not None
            detector = Detector.load(spec.name, spec.path, self._config, self._selector)
        loaded = time.perf_counter()
        try:
            warmup_ms = detector.warm_up(batch)
        except Exception:
            detector.close()
            raise
        return detector, (loaded - start) * 1000, warmup_ms


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20
