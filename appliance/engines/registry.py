"""Pick the backend for a model file. Backends are imported only when one is loaded."""

from __future__ import annotations

from pathlib import Path

from appliance.engines.base import Engine
from appliance.engines.onnxruntime import OnnxRuntimeConfig, OnnxRuntimeEngine
from appliance.engines.tensorrt import TensorRTEngine
from appliance.errors import ModelLoadError, UnsupportedModelError

ONNX_SUFFIXES = (".onnx",)
TENSORRT_SUFFIXES = (".engine", ".plan")


def load_engine(path: Path, config: OnnxRuntimeConfig) -> Engine:
    """Load `path` with the backend its suffix calls for (a TensorRT engine file carries no
    labels: they come from a sidecar `.names` file beside it, or COCO)."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return OnnxRuntimeEngine.load(path, config)
    if suffix in TENSORRT_SUFFIXES:
        return TensorRTEngine.load(path)
    raise UnsupportedModelError(f"{path.name}: only .onnx and TensorRT engine files are accepted")
