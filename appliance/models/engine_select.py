"""`engine: auto`: which backend serves a model on this machine, and why.

TensorRT where `tensorrt` is installed and a GPU is present, with the engine a build left in
the cache for this model, TensorRT version and GPU; else OpenVINO where it is installed on
x86_64 (most of its benefit is there: bf16 and VNNI CPUs, Intel GPUs), with the INT8 model a
build left in the cache if there is one, else the ONNX file at the device's own precision;
else ONNX Runtime with the best provider available (the configured order: TensorRT EP, CUDA,
CPU), from the optimised graph a build cached if there is one, else from the ONNX file
itself. The choice and its reason are logged and shown in /v1/models. `onnxruntime`,
`openvino` and `tensorrt` force one backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loguru import logger

from appliance.engines.base import Engine
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.openvino import OpenVinoConfig
from appliance.engines.platform import Platform, probe_platform
from appliance.engines.registry import open_engine
from appliance.engines.tensorrt import TensorRTConfig
from appliance.errors import ApplianceError, BackendUnavailableError, ModelLoadError
from appliance.models.builds import onnxruntime_identity, openvino_identity, tensorrt_identity
from appliance.models.engine_cache import EngineCache
from appliance.models.files import sha256_of

EngineChoice = Literal["auto", "onnxruntime", "openvino", "tensorrt"]
ENGINE_CHOICES: tuple[EngineChoice, ...] = ("auto", "onnxruntime", "openvino", "tensorrt")
OPENVINO_MACHINES = ("x86_64", "AMD64")  # where auto picks OpenVINO


@dataclass(frozen=True)
class Selection:
    backend: str
    note: str  # in words, for /v1/models and the log
    artifact: str | None = None  # the cache entry used (its key digest), if any
    onnx_sha256: str | None = None  # the model file's, when it had to be read
    precision: str | None = None  # what the engine computes in: fp32, fp16, bf16, int8


def auto_choice(platform: Platform) -> tuple[str, str]:
    """What `engine: auto` serves a model with on `platform` before any build, and why: for
    `appliance doctor` (the selector itself also looks in the cache for each model)."""
    if platform.can_run_tensorrt:
        return "tensorrt", (
            f"TensorRT {platform.tensorrt} on {platform.gpu.tag if platform.gpu else '?'} for "
            "models with a built engine (POST /v1/jobs kind tensorrt); the others as below"
        )
    if platform.openvino is not None and platform.machine in OPENVINO_MACHINES:
        return "openvino", (
            f"OpenVINO {platform.openvino} on {platform.machine}: no TensorRT with a GPU here; "
            "its INT8 build for a model where one was made (POST /v1/jobs kind openvino)"
        )
    why = "no OpenVINO installed"
    if platform.openvino is not None:
        why = f"OpenVINO is auto's choice on x86_64 only, this is {platform.machine}"
    providers = ", ".join(p.removesuffix("ExecutionProvider") for p in platform.providers)
    return "onnxruntime", f"ONNX Runtime {platform.onnxruntime} ({providers}): {why}"


class EngineSelector:
    """Opens every engine it picks through the registry (`open_engine`), configured by
    `config` (ONNX Runtime), `openvino` and `tensorrt` (TensorRT engines from the cache)."""

    def __init__(
        self,
        config: OnnxRuntimeConfig,
        choice: EngineChoice = "auto",
        cache: EngineCache | None = None,
        probe: Callable[[], Platform] = probe_platform,
        *,
        tensorrt: TensorRTConfig | None = None,
        openvino: OpenVinoConfig | None = None,
    ) -> None:
        if choice not in ENGINE_CHOICES:
            raise ModelLoadError(f"unknown engine {choice!r}; use one of {ENGINE_CHOICES}")
        self.config = config
        self.tensorrt = tensorrt or TensorRTConfig()
        self.openvino = openvino or OpenVinoConfig()
        self.choice = choice
        self._cache = cache
        self._probe = probe
        self._hashes: dict[tuple[str, int, int], str] = {}  # the file's sha256 by its stat

    def load(self, path: Path) -> tuple[Engine, Selection]:
        """Load the ONNX model at `path` with the backend this machine serves it best with."""
        reasons = []
        for backend, attempt in (("tensorrt", self._tensorrt), ("openvino", self._openvino)):
            if self.choice not in ("auto", backend):
                continue
            engine, selection, reason = attempt(path)
            if engine is not None and selection is not None:
                return self._chosen(path, engine, selection)
            reasons.append(reason)
        engine, selection = self._onnxruntime(path, "; ".join(reasons))
        return self._chosen(path, engine, selection)

    def _tensorrt(self, path: Path) -> tuple[Engine | None, Selection | None, str]:
        """A TensorRT engine from the cache, or why not (raised when TensorRT is forced)."""
        platform = self._probe()
        identity = tensorrt_identity(platform)
        if identity is None:
            reason = "no TensorRT installed" if platform.tensorrt is None else "no GPU found"
            if self.choice == "tensorrt":
                raise BackendUnavailableError(f"engine is tensorrt, but {reason}")
            return None, None, reason
        entry = self._cache.find(self._sha256(path), "tensorrt", *identity) if self._cache else None
        if entry is None:
            reason = "no TensorRT engine built for it yet (POST /v1/jobs, kind tensorrt)"
            if self.choice == "tensorrt":
                raise ModelLoadError(f"{path.name}: {reason}")
            return None, None, reason
        try:
            engine = open_engine(self.tensorrt, entry.path, metadata=entry.meta.model_metadata)
        except ApplianceError as exc:
            if self.choice == "tensorrt":
                raise
            logger.warning("cached TensorRT engine {} did not load: {}", entry.path, exc.message)
            return None, None, f"the cached TensorRT engine did not load ({exc.message})"
        key = entry.key
        note = f"TensorRT {key.backend_version} engine from the cache ({key.precision})"
        return engine, Selection("tensorrt", note, entry.meta.digest, precision=key.precision), ""

    def _openvino(self, path: Path) -> tuple[Engine | None, Selection | None, str]:
        """OpenVINO: the INT8 model a build cached for this file, else the file itself at
        the device's own precision; or why not (raised when OpenVINO is forced)."""
        platform = self._probe()
        forced = self.choice == "openvino"
        identity = openvino_identity(platform)
        if identity is None:
            if forced:
                raise BackendUnavailableError("engine is openvino, but OpenVINO is not installed")
            return None, None, "no OpenVINO installed"
        if not forced and platform.machine not in OPENVINO_MACHINES:
            return None, None, f"auto picks OpenVINO on x86_64 only, this is {platform.machine}"
        engine = None
        entry = self._cache.find(self._sha256(path), "openvino", *identity) if self._cache else None
        if entry is not None:
            config = self.openvino.model_copy(update={"precision": entry.key.precision})
            try:
                engine = open_engine(config, entry.path, metadata=entry.meta.model_metadata)
            except ApplianceError as exc:
                logger.warning("cached OpenVINO model {} did not load: {}", entry.path, exc.message)
                entry = None
        if engine is None:
            try:
                engine = open_engine(self.openvino, path)
            except ApplianceError as exc:
                if forced:
                    raise
                return None, None, f"OpenVINO did not load it ({exc.message})"
        precision = str(getattr(engine, "precision", "default"))
        note = f"OpenVINO {identity[0]} on {engine.device} ({precision}"
        note += ", built from this model and cached)" if entry is not None else ")"
        digest = entry.meta.digest if entry is not None else None
        return engine, Selection("openvino", note, digest, precision=precision), ""

    def _onnxruntime(self, path: Path, reason: str) -> tuple[Engine, Selection]:
        entry = None
        if self._cache is not None:
            identity = onnxruntime_identity(self._probe(), self.config)
            entry = self._cache.find(self._sha256(path), "onnxruntime", *identity)
        if entry is not None:
            try:
                engine = open_engine(self.config, entry.path)
            except ApplianceError as exc:
                logger.warning("cached graph {} did not load: {}", entry.path, exc.message)
                entry = None
        if entry is None:
            engine = open_engine(self.config, path)
        note = f"ONNX Runtime on {engine.device}"
        if entry is not None:
            note += " with its optimised graph from the cache"
        if reason:
            note += f" ({reason})"
        digest = entry.meta.digest if entry else None
        precision = getattr(engine, "precision", None)
        return engine, Selection("onnxruntime", note, digest, precision=precision)

    def _chosen(self, path: Path, engine: Engine, selection: Selection) -> tuple[Engine, Selection]:
        logger.info("engine {} for {}: {}", self.choice, path.name, selection.note)
        digest = self._hashes.get(_stat_key(path))
        return engine, dataclasses.replace(selection, onnx_sha256=digest)

    def _sha256(self, path: Path) -> str:
        key = _stat_key(path)
        if key not in self._hashes:
            self._hashes[key] = sha256_of(path)
        return self._hashes[key]


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns
