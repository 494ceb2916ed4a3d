"""INT8 models for OpenVINO, calibrated on the frames the model will see.

NNCF's post-training quantization runs the ONNX model on calibration frames to learn each
tensor's range, and writes an OpenVINO IR with INT8 weights and activations. The frames are
letterboxed exactly as inference letterboxes them, so the ranges are those of real inputs.
Every frame handed to NNCF goes through `_Calibration`, which reports progress and stops the
build when the job is cancelled.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np

from appliance.engines.openvino import import_openvino
from appliance.errors import BackendUnavailableError, BuildCancelledError, ModelLoadError
from appliance.models.decode import letterbox, to_tensor
from appliance.sources.demo_scene import MOVE_S, REST_S, DemoScene

MIN_CALIBRATION_FRAMES = 100  # NNCF's own default subset is 300; below 100 ranges get noisy
HELD_OUT_FRAMES = 25  # kept out of calibration to check the INT8 model against the original
NNCF_HINT = "INT8 builds need NNCF, an extra: pip install '.[int8]' in the appliance's checkout"

Progress = Callable[[float, str], None]


def nncf_version() -> str | None:
    try:
        return package_metadata.version("nncf")
    except package_metadata.PackageNotFoundError:
        return None


def check_int8_tools() -> None:
    """Refuse an INT8 build at once where OpenVINO or NNCF is missing."""
    import_openvino()
    if nncf_version() is None:
        raise BackendUnavailableError(NNCF_HINT)


def sample_frames(count: int, width: int = 1280, height: int = 720) -> Iterator[np.ndarray]:
    """`count` frames of the demo scene (the packaged public-domain photos, gliding over a
    background) while it moves, spread over its cycles: calibration frames for a model no
    camera uses yet. One at a time: the caller letterboxes each and lets it go."""
    scene = DemoScene.load(width, height)
    for k in range(count):
        cycle, into = divmod(k * 0.37, MOVE_S)  # spread over the moving part of each cycle
        t = cycle * (MOVE_S + REST_S) + into
        yield scene.render(round(t * scene.fps))


def canvas_of(frame: np.ndarray, input_hw: tuple[int, int], fill: int) -> np.ndarray:
    """A frame as the engine sees it, letterboxed (uint8, a fifth of a 720p frame's bytes:
    125 of them are what a build holds)."""
    return letterbox(frame, input_hw, fill)[0]


def quantize(
    onnx: Path,
    target: Path,
    canvases: Sequence[np.ndarray],
    progress: Progress,
    cancelled: Callable[[], bool],
) -> None:
    """Write an INT8 OpenVINO IR of `onnx` at `target` (.xml beside its .bin), calibrated on
    letterboxed `canvases`. The progress runs from 0.1 to 0.8 while NNCF collects statistics."""
    ov = import_openvino()
    nncf = _import_nncf()
    model = ov.Core().read_model(str(onnx))
    calibration = _Calibration(canvases, progress, cancelled)
    try:
        # NNCF draws rich progress bars on stdout, which would land in the journal; the job's
        # own progress says the same. The service logs to stderr, so nothing else is lost.
        with contextlib.redirect_stdout(io.StringIO()):
            quantized = nncf.quantize(
                model,
                nncf.Dataset(calibration),
                subset_size=len(canvases),
                # symmetric: ~10 % faster than MIXED here at the same agreement on the demo
                # model; the agreement check guards a model where it is not as good
                preset=nncf.QuantizationPreset.PERFORMANCE,
            )
    except BuildCancelledError:
        raise
    except Exception as exc:  # NNCF raises its own errors, or OpenVINO's RuntimeError
        raise ModelLoadError(f"NNCF could not quantize {onnx.name}: {_first_line(exc)}") from exc
    if cancelled():
        raise BuildCancelledError("the build was cancelled")
    progress(0.8, "saving the INT8 model")
    ov.save_model(quantized, str(target))  # keeps rt_info: the labels travel with it


class _Calibration:
    """The frames NNCF iterates over, each made the engine's input tensor (NCHW float32 RGB)
    only when NNCF takes it, and each one a step of the job's progress."""

    def __init__(
        self, canvases: Sequence[np.ndarray], progress: Progress, cancelled: Callable[[], bool]
    ) -> None:
        self._canvases = canvases
        self._progress = progress
        self._cancelled = cancelled
        self._passes = 0
        self._done = 0.1

    def __len__(self) -> int:
        return len(self._canvases)

    def __iter__(self) -> Iterator[np.ndarray]:
        # NNCF passes over the frames once per algorithm (ranges, then bias correction):
        # progress only moves forward, the message says which pass
        total = len(self._canvases)
        self._passes += 1
        for index, canvas in enumerate(self._canvases):
            if self._cancelled():
                raise BuildCancelledError("the build was cancelled")
            self._done = max(self._done, 0.1 + 0.7 * index / total)
            self._progress(
                self._done, f"calibrating, pass {self._passes}: frame {index + 1}/{total}"
            )
            yield to_tensor([canvas])


def _import_nncf() -> Any:
    # NNCF sends usage telemetry unless told it runs in CI; an appliance on a private LAN
    # must not phone home (DESIGN.md). The variable changes nothing else in NNCF.
    os.environ.setdefault("NNCF_CI", "1")
    try:
        import nncf
    except ImportError as exc:
        raise BackendUnavailableError(f"{NNCF_HINT} ({exc})") from exc
    nncf.set_log_level(40)  # errors only: its progress bars would flood the service's log
    return nncf


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
