"""Building a TensorRT engine from ONNX (GPU only; imported when a TensorRT build runs).

FP16 where the version offers it: TensorRT 10.x through `BuilderFlag.FP16` (weak typing);
TensorRT 11.x removed that flag and builds every network strongly typed, so there the ONNX
graph itself is converted to FP16 first (inputs and outputs stay FP32). An optimization
profile covers batch 1..max_batch when the batch dimension is dynamic. The timing cache is
read before and written after every build, so later builds on this GPU are faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.durable import write_atomic
from appliance.errors import BuildCancelledError, ModelLoadError

Report = Callable[[float], None]  # fraction of the build done, 0..1


@dataclass
class PhaseProgress:
    """Turns TensorRT's nested phases and steps into one fraction. A top-level phase counts
    as one step of the whole; a nested phase fills the step of its parent it runs in."""

    phases: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    finished_top: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # TensorRT calls from threads

    def start(self, name: str, parent: str | None, steps: int) -> None:
        with self.lock:
            self.phases[name] = (parent, max(1, steps))
            self.done[name] = 0
            self.order.append(name)

    def step(self, name: str, step: int) -> None:
        with self.lock:
            if name in self.done:
                self.done[name] = max(self.done[name], step + 1)

    def finish(self, name: str) -> None:
        with self.lock:
            parent, _ = self.phases.pop(name, (None, 1))
            self.done.pop(name, None)
            if name in self.order:
                self.order.remove(name)
            if parent is None:
                self.finished_top += 1

    def fraction(self, expected_top: int = 4) -> float:
        """Progress through `expected_top` top-level phases (TensorRT does not say how many)."""
        with self.lock:
            within = 0.0
            top = [n for n in self.order if self.phases[n][0] is None]
            if top:
                within = self._fill(top[-1])
            return min(0.99, (self.finished_top + within) / max(expected_top, 1))

    def _fill(self, name: str) -> float:
        _, steps = self.phases[name]
        children = [n for n in self.order if self.phases[n][0] == name]
        inner = self._fill(children[-1]) if children else 0.0
        return min(1.0, (self.done[name] + inner) / steps)


@dataclass(frozen=True)
class TrtBuildResult:
    precision: str  # what was built: "fp16" or "fp32"
    typing: str  # "weak" (builder flag) or "strong" (FP16 graph)
    max_batch: int


@dataclass(frozen=True)
class _Options:
    max_batch: int
    timing_cache: Path
    report: Report
    cancelled: Callable[[], bool]
    weak_fp16: bool  # 10.x: BuilderFlag.FP16 lets TensorRT choose FP16 kernels
    strong: bool  # a strongly typed network of an FP16 graph (11.x has nothing else)


def build_engine(
    onnx_path: Path,
    target: Path,
    *,
    precision: str,
    max_batch: int,
    timing_cache: Path,
    report: Report,
    cancelled: Callable[[], bool],
) -> TrtBuildResult:
    """Build `onnx_path` into a serialized engine at `target`. Raises BuildCancelledError when
    `cancelled()` turns true (TensorRT stops at its next step), ModelLoadError on failure."""
    import tensorrt as trt

    weak_fp16 = precision == "fp16" and "FP16" in trt.BuilderFlag.__members__
    strong = precision == "fp16" and not weak_fp16
    options = _Options(max_batch, timing_cache, report, cancelled, weak_fp16, strong)
    source = _fp16_graph(onnx_path, target.parent) if strong else onnx_path
    try:
        batch = _build(trt, source, target, options)
    finally:
        if source != onnx_path:
            source.unlink(missing_ok=True)
    return TrtBuildResult(precision, "strong" if strong else "weak", batch)


def _build(trt: Any, source: Path, target: Path, options: _Options) -> int:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    typed = trt.NetworkDefinitionCreationFlag.__members__.get("STRONGLY_TYPED")
    if options.strong and typed is not None:  # 11.x: always strongly typed; harmless there
        flags |= 1 << int(typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelLoadError(f"TensorRT cannot parse {source.name}: {errors[:500]}")
    config = builder.create_builder_config()
    if options.weak_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    batch = _add_profile(builder, network, config, options.max_batch)
    known = options.timing_cache.read_bytes() if options.timing_cache.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(known), ignore_mismatch=False)
    progress = PhaseProgress()
    monitor = _monitor(trt, progress, options.report, options.cancelled)
    config.progress_monitor = monitor  # kept referenced by `monitor` until the build ends
    serialized = builder.build_serialized_network(network, config)
    if options.cancelled():
        raise BuildCancelledError("the TensorRT build was cancelled")
    if serialized is None:
        raise ModelLoadError(f"TensorRT could not build {source.name} (see the log)")
    write_atomic(target, bytes(serialized))
    write_atomic(options.timing_cache, bytes(config.get_timing_cache().serialize()))
    return batch


def _add_profile(builder: Any, network: Any, config: Any, max_batch: int) -> int:
    """Batch 1..max_batch for a dynamic batch dimension; a fixed one stays as it is."""
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    if any(d < 0 for d in shape[1:]):
        raise ModelLoadError(
            f"input {tensor.name} {list(shape)} has dynamic sizes beyond the batch; "
            "export the model with a fixed image size"
        )
    if shape[0] >= 0:
        return int(shape[0])
    profile = builder.create_optimization_profile()
    rest = shape[1:]
    profile.set_shape(tensor.name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
    config.add_optimization_profile(profile)
    return max_batch


def _monitor(trt: Any, progress: PhaseProgress, report: Report, cancelled: Callable[[], bool]):
    class Monitor(trt.IProgressMonitor):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            progress.step(phase_name, step)
            report(progress.fraction())
            return not cancelled()  # False asks TensorRT to stop the build

        def phase_finish(self, phase_name: str) -> None:
            progress.finish(phase_name)

    return Monitor()


def _fp16_graph(onnx_path: Path, folder: Path) -> Path:
    """The ONNX graph with FP16 weights and compute, FP32 inputs and outputs (what a strongly
    typed TensorRT 11 network needs to run in FP16). ONNX Runtime ships the converter."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    except Exception as exc:
        raise ModelLoadError(f"FP16 conversion failed ({exc}); build with precision fp32") from exc
    converted = folder / "model-fp16.onnx"
    onnx.save(model, str(converted))
    return converted
