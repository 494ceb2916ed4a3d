"""ONNX Runtime backend: TensorRT EP, CUDA EP or CPU, whichever is available and allowed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from appliance.engines.base import EngineConfigBase, TensorSpec
from appliance.errors import InferenceError, ModelLoadError, UnsupportedModelError
from appliance.memory import trim

ProviderName = Literal["tensorrt", "cuda", "cpu"]
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}


class OnnxRuntimeConfig(EngineConfigBase):
    """`providers` in order of preference; those this onnxruntime build lacks are skipped."""

    type: Literal["onnxruntime"] = "onnxruntime"
    providers: tuple[ProviderName, ...] = Field(
        ("tensorrt", "cuda", "cpu"), description="Execution providers in order of preference."
    )
    intra_op_threads: int = Field(
        0, ge=0, description="Threads inside one operator; 0: one per physical core."
    )
    inter_op_threads: int = Field(0, ge=0, description="Threads across operators; 0: default.")
    spinning: bool = Field(
        False,
        description="Let idle pool threads busy-wait for work (ONNX Runtime's default). Off: "
        "on a small CPU their spinning takes the cores capture, encoding and a second engine "
        "need (benchmarks/pipeline.py, benchmarks/swap.py).",
    )
    cache_dir: Path | None = Field(
        None, description="Where the TensorRT execution provider caches engines and timings."
    )


def import_onnxruntime() -> Any:
    # Must be set before the first import: ONNX Runtime on Linux phones home otherwise,
    # and an appliance on a private LAN must not (DESIGN.md, platform facts).
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    return onnxruntime


def choose_providers(wanted: Sequence[str], available: Sequence[str]) -> list[str]:
    """The ONNX Runtime provider names to use, in preference order; CPU is always last."""
    unknown = [name for name in wanted if name not in PROVIDERS]
    if unknown:
        raise ModelLoadError(f"unknown execution provider(s) {unknown}; use {list(PROVIDERS)}")
    chosen = [PROVIDERS[name] for name in wanted if PROVIDERS[name] in available]
    if not chosen:
        raise ModelLoadError(f"none of the providers {list(wanted)} exist here; have {available}")
    return chosen


class OnnxRuntimeEngine:
    """One InferenceSession. ONNX Runtime releases the GIL while it runs."""

    backend = "onnxruntime"

    def __init__(self, session: Any) -> None:
        self._session = session
        self.device = session.get_providers()[0].removesuffix("ExecutionProvider")
        self.inputs = tuple(_spec(arg) for arg in session.get_inputs())
        self.outputs = tuple(_spec(arg) for arg in session.get_outputs())
        self.metadata: Mapping[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        self._input_name = self.inputs[0].name
        # a graph computes in its own types: fp16 where its input is, else fp32
        self.precision = "fp16" if self.inputs[0].dtype == "float16" else "fp32"

    @classmethod
    def open(
        cls, source: Path | str, config: OnnxRuntimeConfig, metadata: Mapping[str, str] | None
    ) -> OnnxRuntimeEngine:
        """The registry's way in; an ONNX file carries its own metadata, so `metadata` is
        not used."""
        return cls.load(Path(source), config)

    @classmethod
    def load(cls, path: Path, config: OnnxRuntimeConfig) -> OnnxRuntimeEngine:
        ort = import_onnxruntime()
        providers = choose_providers(config.providers, ort.get_available_providers())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = config.inter_op_threads
        spinning = "1" if config.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=_provider_options(providers, config)
            )
        except Exception as exc:  # ONNX Runtime raises its own untyped Fail/InvalidGraph…
            raise ModelLoadError(
                f"ONNX Runtime cannot load {path.name}: {_first_line(exc)}"
            ) from exc
        engine = cls(session)
        if len(engine.inputs) != 1:
            raise UnsupportedModelError(
                f"{path.name} has {len(engine.inputs)} inputs, expected one image"
            )
        return engine

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            return list(self._session.run(None, {self._input_name: batch}))
        except Exception as exc:
            raise InferenceError(f"inference failed: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._session = None  # the last reference: ONNX Runtime frees it here
        trim()  # a closed session's heap back to the OS: else RSS grows with each swap


def optimize_onnx(source: Path, target: Path, config: OnnxRuntimeConfig) -> list[str]:
    """Save ONNX Runtime's optimised graph of `source` at `target` (SessionOptions.
    optimized_model_filepath); returns the providers it was optimised for. The level is
    'extended': 'all' adds layout changes tied to this CPU's vector width (ORT warns that
    such a file is only good where it was made). The TensorRT EP is left out: an
    optimisation job must not turn into a TensorRT build inside ONNX Runtime."""
    ort = import_onnxruntime()
    wanted = [name for name in config.providers if name != "tensorrt"] or ["cpu"]
    providers = choose_providers(wanted, ort.get_available_providers())
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.intra_op_num_threads = config.intra_op_threads
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(source), sess_options=options, providers=providers)
    except Exception as exc:
        raise ModelLoadError(
            f"ONNX Runtime cannot optimise {source.name}: {_first_line(exc)}"
        ) from exc
    finally:
        trim()  # the optimising session's heap back to the OS
    if not target.is_file():
        raise ModelLoadError(f"ONNX Runtime wrote no optimised model for {source.name}")
    return providers


def _provider_options(providers: list[str], config: OnnxRuntimeConfig) -> list[Any]:
    result: list[Any] = []
    for name in providers:
        if name == PROVIDERS["tensorrt"] and config.cache_dir is not None:
            cache = str(config.cache_dir)
            result.append((name, {
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": cache,
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": cache,
            }))  # fmt: skip
        else:
            result.append(name)
    return result


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d > 0 else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
