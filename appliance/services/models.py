"""Models as a service: the repository, validation on upload, and blue/green activation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from loguru import logger

from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.errors import ApplianceError, ModelLoadError
from appliance.models.demo import demo_model_path
from appliance.models.repository import ModelMeta, ModelRepository, check_format, check_name
from appliance.models.validation import model_labels, validate_model
from appliance.services.cameras import CameraService
from appliance.services.detection import DetectionService, ModelSpec
from appliance.services.events import EventBus
from appliance.sources import DemoSource, SourceOptions, parse_uri


@dataclass(frozen=True)
class ModelView:
    meta: ModelMeta
    default: bool
    cameras: list[str]
    loaded: bool
    backend: str | None
    device: str | None
    engine_note: str | None = None  # why this backend serves it (engine: auto's choice)


@dataclass(frozen=True)
class SwapReport:
    model: str
    version: str
    cameras: list[str]
    default: bool
    load_ms: float
    warmup_ms: float
    switch_ms: float
    rss_before_mb: float
    rss_after_mb: float
    released: list[str]


class ModelService:
    def __init__(
        self,
        repository: ModelRepository,
        detection: DetectionService,
        cameras: CameraService,
        events: EventBus,
        config: OnnxRuntimeConfig,
        on_swap: Callable[[str, float], None] | None = None,
    ) -> None:
        self.repository = repository
        self._on_swap = on_swap  # e.g. Prometheus: model, switch ms
        self._detection = detection
        self._cameras = cameras
        self._events = events
        self._config = config
        self._swap_lock = asyncio.Lock()

    async def start(self, specs: list[ModelSpec]) -> None:
        """Register the configured models (the demo model on a first start)."""
        for spec in specs:
            await asyncio.to_thread(self._register, spec)

    def _register(self, spec: ModelSpec) -> None:
        if spec.path is None:
            return  # a remote model: its file lives on the server that serves it
        try:
            if self.repository.has(spec.name, spec.path):
                return  # every start after the first: nothing to read
            labels, size, family = model_labels(spec.path, self._config)
            self.repository.add(
                spec.name,
                spec.path,
                source="demo" if spec.path == demo_model_path() else str(spec.path),
                labels=labels,
                input_size=size,
                output_family=family,
            )
        except ApplianceError as exc:
            logger.error("model {} not registered: {}", spec.name, exc.message)

    def saved_specs(self, saved: tuple[set[str], str | None]) -> list[ModelSpec]:
        """The repository models saved cameras use and the one last activated for
        everything, to load at start-up beside the configured ones (missing ones: logged)."""
        names, default = saved
        specs = []
        for name in sorted(names | {default} if default else names):
            try:
                specs.append(ModelSpec(name, self.repository.path(self.repository.get(name))))
            except ApplianceError as exc:
                logger.error("saved model {} not loaded: {}", name, exc.message)
        return specs

    def list(self) -> list[ModelView]:
        assigned = self._cameras.assigned_models()
        return [self._view(meta, assigned) for meta in self.repository.list()]

    def get(self, name: str) -> ModelView:
        return self._view(self.repository.get(name), self._cameras.assigned_models())

    async def upload(self, name: str, staged: Path) -> ModelView:
        """Validate a staged upload, then add it; a model that fails changes nothing."""
        check_name(name)
        check_format(staged)
        report = await asyncio.to_thread(
            validate_model, name, staged, self._config, _sample_frame()
        )
        labels, size, family = await asyncio.to_thread(model_labels, staged, self._config)
        meta = await asyncio.to_thread(
            self.repository.add,
            name,
            staged,
            source="upload",
            labels=labels,
            input_size=size,
            output_family=family,
            validation=report,
        )
        self._events.publish("model.uploaded", model=name, version=meta.version)
        return self._view(meta, self._cameras.assigned_models())

    async def delete(self, name: str) -> None:
        active = self._cameras.models_in_use() | {self._detection.default_model}
        await asyncio.to_thread(self.repository.delete, name, active=active)
        self._events.publish("model.deleted", model=name)

    async def activate(self, name: str, cameras: list[str] | None) -> SwapReport:
        """Blue/green: load and warm the new engine beside the old, switch every affected
        camera (and, for all, the detect API's default) between two frames, then close what
        no longer serves. A failed load or warm-up changes nothing."""
        async with self._swap_lock:
            meta = self.repository.get(name)
            rss_before = _rss_mb()
            try:
                detector, load_ms, warmup_ms = await asyncio.to_thread(
                    self._detection.load_and_warm, name, self.repository.path(meta)
                )
            except ApplianceError as exc:
                raise ModelLoadError(f"{name} was not activated: {exc.message}") from None
            start = time.perf_counter()
            replaced = self._detection.install(
                detector, default=cameras is None, warmup_ms=warmup_ms
            )
            if replaced is not None and cameras is not None:
                # a new version of a model other cameras use: they move too, the old one closes
                cameras = sorted(set(cameras) | self._cameras.cameras_using(name))
            switched = await self._cameras.use_model(cameras, None if cameras is None else name)
            if cameras is None:
                self._cameras.remember_default(name)
            switch_ms = (time.perf_counter() - start) * 1000
            released = await asyncio.to_thread(self._release, replaced)
            report = SwapReport(
                model=name,
                version=meta.version,
                cameras=switched,
                default=cameras is None,
                load_ms=round(load_ms, 1),
                warmup_ms=round(warmup_ms, 1),
                switch_ms=round(switch_ms, 2),
                rss_before_mb=round(rss_before, 1),
                rss_after_mb=round(_rss_mb(), 1),
                released=released,
            )
        logger.bind(model=name).info("model swap: {}", report)
        self._events.publish("model.activated", **vars(report))
        if self._on_swap is not None:
            self._on_swap(name, report.switch_ms)
        return report

    def _release(self, replaced: Any) -> list[str]:
        """Close engines nothing serves any more: a replaced version, unused models."""
        released = []
        if replaced is not None:
            replaced.close()
            released.append(f"{replaced.ref.name}@{replaced.ref.version}")
        in_use = self._cameras.models_in_use() | {self._detection.default_model}
        for name in list(self._detection.loaded):
            if name not in in_use:
                self._detection.unload(name)
                released.append(name)
        return released

    def _view(self, meta: ModelMeta, assigned: dict[str, str | None]) -> ModelView:
        loaded = self._detection.loaded.get(meta.name)
        serving = loaded is not None and loaded.ref.version == meta.version
        default = self._detection.default_model
        cameras = [camera for camera, model in assigned.items() if (model or default) == meta.name]
        return ModelView(
            meta=meta,
            default=self._detection.default_model == meta.name,
            cameras=cameras,
            loaded=serving,
            backend=loaded.engine.backend if serving and loaded else None,
            device=loaded.engine.device if serving and loaded else None,
            engine_note=loaded.note if serving and loaded else None,
        )


def _sample_frame() -> np.ndarray:
    """A real frame for the test inference: the demo scene (public-domain photos)."""
    source = DemoSource(parse_uri("demo://"), SourceOptions(realtime=False))
    source.open()
    try:
        return source.read()
    finally:
        source.close()


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20
