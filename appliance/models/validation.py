"""Checks a model must pass before it can be activated: a valid ONNX graph (or a reachable
remote model) with one image input and a known output family, labels, a test inference on a
real frame, and a benchmark."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.domain import DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.remote import RemoteModel
from appliance.errors import ApplianceError, UnsupportedModelError
from appliance.models.detector import DecodedImage, Detector


def validate_model(
    name: str, path: Path, config: OnnxRuntimeConfig, frame: np.ndarray, runs: int = 10
) -> dict[str, Any]:
    """The validation report of the model at `path`; raises UnsupportedModelError (with the
    reason) at the first check it fails. Nothing is kept loaded."""
    _check_graph(path)
    try:
        detector = Detector.load(name, path, config)
    except UnsupportedModelError:
        raise
    except ApplianceError as exc:
        raise UnsupportedModelError(exc.message) from None
    try:
        return _report(detector, frame, runs, ["onnx.checker"])
    finally:
        detector.close()


def validate_remote(
    name: str, target: RemoteModel, frame: np.ndarray, runs: int = 10
) -> tuple[dict[str, Any], tuple[list[str], tuple[int, int], str]]:
    """The validation report of a model served elsewhere, and its labels, input size and
    output family: reachable (ModelLoadError with the server's reason if not), then the
    same checks as an upload, over the network. Nothing is kept connected."""
    detector = Detector.connect(name, target)
    try:
        report = _report(detector, frame, runs, ["reachable", "model metadata"])
        return report, (list(detector.labels), detector.input_hw, detector.family.value)
    finally:
        detector.close()


def _report(detector: Detector, frame: np.ndarray, runs: int, checked: list[str]) -> dict[str, Any]:
    """A test inference on a real frame, then `runs` timed ones (raises on a failure)."""
    try:
        (result,) = detector.detect([DecodedImage(frame)], DetectParams())
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            detector.engine.infer(_blank_batch(detector))
            times.append((time.perf_counter() - start) * 1000)
    except ApplianceError as exc:
        raise UnsupportedModelError(f"test inference failed: {exc.message}") from None
    return {
        "checks": [*checked, "one image input", "output family", "labels", "test inference"],
        "input_size": list(detector.input_hw),
        "output_family": detector.family.value,
        "labels": len(detector.labels),
        "dynamic_batch": detector.dynamic_batch,
        "suppress_nested": detector.suppress_nested,
        "test_frame": {
            "width": result.width,
            "height": result.height,
            "detections": len(result.detections),
            "labels": sorted({d.label for d in result.detections}),
        },
        "latency_ms": {"p50": round(statistics.median(times), 2), "max": round(max(times), 2)},
        "backend": detector.engine.backend,
        "device": detector.engine.device,
    }


def model_labels(path: Path, config: OnnxRuntimeConfig) -> tuple[list[str], tuple[int, int], str]:
    """Labels, input size and output family of a model already known to be good."""
    detector = Detector.load("probe", path, config)
    try:
        return list(detector.labels), detector.input_hw, detector.family.value
    finally:
        detector.close()


def _check_graph(path: Path) -> None:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError…
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UnsupportedModelError(f"not a valid ONNX model: {first}") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the model has {len(inputs)} inputs; one image input expected")


def _blank_batch(detector: Detector) -> np.ndarray:
    return np.full((1, 3, *detector.input_hw), 0.5, dtype=np.float32)
