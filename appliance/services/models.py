"""Models as a service: the repository, validation on upload, and blue/green activation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.remote import RemoteModel
from appliance.errors import ApplianceError
from appliance.models.demo import demo_model_path
from appliance.models.repository import ModelMeta, ModelRepository, check_format, check_name
from appliance.models.validation import model_labels, validate_model, validate_remote
from appliance.services.cameras import CameraService
from appliance.services.events import EventBus
from appliance.services.model_specs import ModelSpec, SwapReport
from appliance.services.serving import ServingService
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
    precision: str | None = None  # what the serving engine computes in: fp32, bf16, int8…
    suppress_nested: float | None = None  # as the loaded model merges nested boxes


class ModelService:
    def __init__(
        self,
        repository: ModelRepository,
        serving: ServingService,
        cameras: CameraService,
        events: EventBus,
        config: OnnxRuntimeConfig,
        on_swap: Callable[[str, float], None] | None = None,
    ) -> None:
        self.repository = repository
        self._on_swap = on_swap  # e.g. Prometheus: model, switch ms
        self._serving = serving
        self._cameras = cameras
        self._events = events
        self._config = config
        self._validating = asyncio.Lock()

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

    def saved_specs(self, names: set[str], default: str | None) -> list[ModelSpec]:
        """The repository models saved cameras use and the one last activated for
        everything, to load at start-up beside the configured ones (missing ones: logged)."""
        specs = []
        for name in sorted(names | {default} if default else names):
            try:
                specs.append(self._spec(self.repository.get(name)))
            except ApplianceError as exc:
                logger.error("saved model {} not loaded: {}", name, exc.message)
        return specs

    async def list(self) -> list[ModelView]:
        metas = await asyncio.to_thread(self.repository.list)  # reads every model's metadata
        assigned = self._cameras.assigned_models()
        return [self._view(meta, assigned) for meta in metas]

    async def names(self) -> list[str]:
        return [meta.name for meta in await asyncio.to_thread(self.repository.list)]

    async def get(self, name: str) -> ModelView:
        meta = await asyncio.to_thread(self.repository.get, name)
        return self._view(meta, self._cameras.assigned_models())

    async def upload(self, name: str, staged: Path) -> ModelView:
        """Validate a staged upload, then add it; a model that fails changes nothing."""
        check_name(name)
        check_format(staged)
        # one validation at a time, off the event loop: each loads the model and benchmarks
        # it, and several at once only slow each other and the cameras down
        async with self._validating:
            report, (labels, size, family) = await asyncio.to_thread(self._validate, name, staged)
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

    async def register_remote(
        self, name: str, url: str, model: str, version: str = "", token: str = ""
    ) -> ModelView:
        """Validate a model served elsewhere (Open Inference Protocol at `url`) like an
        upload: reachable, shapes, a test inference on a real frame, latency; then keep it.
        One that fails changes nothing. The token goes only to that server."""
        check_name(name)
        target = RemoteModel.from_url(url, model, version, token)
        async with self._validating:  # off the event loop: every call waits on the network
            report, (labels, size, family) = await asyncio.to_thread(
                lambda: validate_remote(name, target, _sample_frame())
            )
        meta = await asyncio.to_thread(
            self.repository.add_remote,
            name,
            target,
            labels=labels,
            input_size=size,
            output_family=family,
            validation=report,
        )
        logger.info("model {} {} registered: {}", name, meta.version, target.uri)
        self._events.publish("model.uploaded", model=name, version=meta.version)
        return self._view(meta, self._cameras.assigned_models())

    def _spec(self, meta: ModelMeta) -> ModelSpec:
        """What serving loads for a repository version: its file, or its server (blocking:
        reads the token)."""
        if meta.remote is not None:
            return ModelSpec(meta.name, None, self.repository.remote(meta))
        return ModelSpec(meta.name, self.repository.path(meta))

    def _validate(
        self, name: str, staged: Path
    ) -> tuple[dict[str, Any], tuple[list[str], tuple[int, int], str]]:
        """The validation report, and the labels, input size and output family (blocking)."""
        report = validate_model(name, staged, self._config, _sample_frame())
        return report, model_labels(staged, self._config)

    async def delete(self, name: str) -> None:
        active = self._serving.models_in_use()
        await asyncio.to_thread(self.repository.delete, name, active=active)
        self._events.publish("model.deleted", model=name)

    async def activate(self, name: str, cameras: list[str] | None) -> SwapReport:
        """Blue/green activation of a repository model, for every camera and the detect
        API's default (cameras None) or for the cameras named; see ServingService."""
        meta = await asyncio.to_thread(self.repository.get, name)
        spec = await asyncio.to_thread(self._spec, meta)
        report = await self._serving.activate(spec, cameras)
        logger.bind(model=name).info("model swap: {}", report)
        self._events.publish("model.activated", **vars(report))
        if self._on_swap is not None:
            self._on_swap(name, report.switch_ms)
        return report

    def _view(self, meta: ModelMeta, assigned: dict[str, str | None]) -> ModelView:
        loaded = self._serving.loaded.get(meta.name)
        serving = loaded is not None and loaded.ref.version == meta.version
        default = self._serving.default_model
        cameras = [camera for camera, model in assigned.items() if (model or default) == meta.name]
        return ModelView(
            meta=meta,
            default=default == meta.name,
            cameras=cameras,
            loaded=serving,
            backend=loaded.engine.backend if serving and loaded else None,
            device=loaded.engine.device if serving and loaded else None,
            engine_note=loaded.note if serving and loaded else None,
            precision=loaded.precision if serving and loaded else None,
            suppress_nested=loaded.suppress_nested if serving and loaded else None,
        )


def _sample_frame() -> np.ndarray:
    """A real frame for the test inference: the demo scene (public-domain photos)."""
    source = DemoSource(parse_uri("demo://"), SourceOptions(realtime=False))
    source.open()
    try:
        return source.read()
    finally:
        source.close()
