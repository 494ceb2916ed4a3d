"""The OpenVINO INT8 build: calibrate on the model's own frames, then prove the INT8 model
finds what the original finds before it may serve.

Frames come from the cameras that use the model (or the demo scene's photos where none
does, or too few frames came): every fifth is held out of calibration. The INT8 model and
the original (OpenVINO at the device's own precision: fp32, or bf16 where the CPU has it)
then detect on the held-out frames and the packaged test photos; their agreement (F1 of boxes
matched at IoU 0.5 with the same label) must reach `min_agreement`, or the build fails with
the figure and nothing enters the cache (builds.MIN_AGREEMENT: 0.9 unless configured).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.domain import DetectParams, ModelRef
from appliance.engines.openvino import OpenVinoConfig
from appliance.engines.registry import open_engine
from appliance.errors import BuildCancelledError, ModelLoadError
from appliance.models import int8
from appliance.models.agreement import Agreement, agreement
from appliance.models.builds import FrameSupplier
from appliance.models.detector import DecodedImage, Detector
from appliance.models.engine_cache import BuildOutput
from appliance.models.labels import resolve_labels
from appliance.sources.demo_scene import load_asset

HOLD_OUT_EVERY = 5  # every fifth frame checks, the others calibrate
IR_FILE = "model.xml"
TEST_PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")  # packaged with the demo scene

Progress = Callable[[float, str], None]


def build_int8(
    onnx: Path,
    staging: Path,
    config: OpenVinoConfig,
    frames: FrameSupplier | None,
    progress: Progress,
    cancelled: Callable[[], bool],
    *,
    min_agreement: float,
) -> BuildOutput:
    wanted = int8.MIN_CALIBRATION_FRAMES + int8.HELD_OUT_FRAMES
    reference = _detector(onnx, config, None)
    try:
        shape = (reference.input_hw, reference.fill)
        canvases: list[np.ndarray] = []  # letterboxed as they come: no 720p frame is kept
        for frame in frames(wanted, cancelled) if frames is not None else ():
            canvases.append(int8.canvas_of(frame, *shape))
            progress(0.1 * len(canvases) / wanted, f"{len(canvases)}/{wanted} camera frames")
        _stop_if(cancelled)
        from_cameras = len(canvases)
        canvases += [int8.canvas_of(f, *shape) for f in int8.sample_frames(wanted - from_cameras)]
        held_out = canvases[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
        calibrate = [c for i, c in enumerate(canvases) if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
        started = time.perf_counter()
        target = staging / IR_FILE
        int8.quantize(onnx, target, calibrate, progress, cancelled)
        quantize_s = time.perf_counter() - started
        progress(0.85, "comparing the INT8 model with the original")
        candidate = _detector(target, config.model_copy(update={"precision": "int8"}), onnx)
        try:
            checked = _agreement(reference, candidate, [*held_out, *_test_photos()], cancelled)
        finally:
            candidate.close()
        metadata = dict(reference.engine.metadata)
        reference_precision = reference.precision
    finally:
        reference.close()
    summary = checked.summary()
    if checked.f1 < min_agreement:
        raise ModelLoadError(
            f"the INT8 model agrees with the original at F1 {checked.f1:.3f}, below "
            f"{min_agreement}: it was not kept ({summary})"
        )
    progress(0.97, "saving")
    details: dict[str, Any] = {
        "precision": "int8",
        "reference_precision": reference_precision,
        "agreement": summary,
        "calibration": {
            "camera_frames": from_cameras,
            "sample_frames": wanted - from_cameras,
            "calibration_frames": len(calibrate),
            "held_out_frames": len(held_out),
            "test_photos": len(TEST_PHOTOS),
        },
        "quantize_s": round(quantize_s, 2),
        "nncf": int8.nncf_version(),
    }
    return BuildOutput(IR_FILE, metadata, details)


def _detector(path: Path, config: OpenVinoConfig, onnx: Path | None) -> Detector:
    """A detector on OpenVINO for a comparison (labels from the ONNX model it was made of)."""
    engine = open_engine(config, path)
    try:
        labels = resolve_labels(engine.metadata, onnx or path)
        return Detector(ModelRef(path.stem, "check"), engine, labels, path)
    except Exception:
        engine.close()
        raise


def _agreement(
    reference: Detector,
    candidate: Detector,
    images: Sequence[np.ndarray],
    cancelled: Callable[[], bool],
) -> Agreement:
    found: tuple[list[Any], list[Any]] = ([], [])
    for image in images:
        _stop_if(cancelled)
        for detector, into in ((reference, found[0]), (candidate, found[1])):
            result = detector.detect([DecodedImage(image)], [DetectParams()])[0]
            into.append(result.detections)
    return agreement(*found)


def _test_photos() -> list[np.ndarray]:
    """The packaged public-domain photos, whole: each one image the check runs on."""
    return [load_asset(name) for name in TEST_PHOTOS]


def _stop_if(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise BuildCancelledError("the build was cancelled")
