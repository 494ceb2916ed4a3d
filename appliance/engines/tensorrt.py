"""TensorRT backend: a serialized engine (`.engine`/`.plan`) run through TensorRT's name-based
I/O tensor API, with pinned host and device buffers allocated once per input shape.

The bookkeeping (which shapes need which buffers, reuse, splitting a batch
over the engine's optimization profile) lives here and talks to TensorRT and CUDA only
through `DeviceRuntime` (tensorrt_types.py), a narrow seam: `tensorrt_cuda.py` implements it
on a GPU, and the tests implement it with numpy where no GPU exists. tensorrt and pycuda are
imported only when an engine is loaded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from appliance.engines.base import EngineConfigBase
from appliance.engines.tensorrt_types import Buffer, DeviceRuntime, IoTensor
from appliance.errors import InferenceError, ModelLoadError, UnsupportedModelError

MAX_PLANS = 4  # buffer sets kept for distinct input shapes (batch sizes) before the oldest goes


class TensorRTConfig(EngineConfigBase):
    """How a serialized TensorRT engine is run (GPU 0; how it was built is in its file)."""

    type: Literal["tensorrt"] = "tensorrt"
    max_plans: int = Field(
        MAX_PLANS, ge=1, description="Buffer sets kept for distinct batch sizes."
    )


@dataclass
class BufferPlan:
    """The buffers of one input shape: reused by every batch of that shape."""

    input_shapes: dict[str, tuple[int, ...]]
    inputs: dict[str, Buffer]
    outputs: dict[str, Buffer]
    uses: int = field(default=0)

    def buffers(self) -> list[Buffer]:
        return [*self.inputs.values(), *self.outputs.values()]


class BindingBook:
    """Buffer plans by input shape, most recently used last; the oldest are freed past
    `limit` so a stream of odd batch sizes cannot hold device memory forever."""

    def __init__(self, runtime: DeviceRuntime, tensors: Sequence[IoTensor], limit: int) -> None:
        self._runtime = runtime
        self._inputs = [t for t in tensors if t.is_input]
        self._outputs = [t for t in tensors if not t.is_input]
        self._limit = limit
        self._plans: OrderedDict[tuple[int, ...], BufferPlan] = OrderedDict()
        self.allocations = 0  # buffer sets made so far (reuse shows as no growth)

    def plan(self, shape: tuple[int, ...]) -> BufferPlan:
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._make(shape)
            self._plans[shape] = plan
            while len(self._plans) > self._limit:
                _, oldest = self._plans.popitem(last=False)
                self._release(oldest)
        self._plans.move_to_end(shape)
        plan.uses += 1
        return plan

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return list(self._plans)

    def _make(self, shape: tuple[int, ...]) -> BufferPlan:
        input_shapes = {self._inputs[0].name: shape}
        output_shapes = self._runtime.output_shapes(input_shapes)
        made: list[Buffer] = []
        try:
            inputs = {}
            for tensor in self._inputs:
                inputs[tensor.name] = self._allocate(input_shapes[tensor.name], tensor.dtype, made)
            outputs = {}
            for tensor in self._outputs:
                out_shape = tuple(output_shapes[tensor.name])
                if any(d < 0 for d in out_shape):
                    raise UnsupportedModelError(
                        f"output {tensor.name} has a data-dependent shape {list(out_shape)}"
                    )
                outputs[tensor.name] = self._allocate(out_shape, tensor.dtype, made)
        except BaseException:
            for buffer in made:
                self._runtime.free(buffer)
            raise
        self.allocations += 1
        return BufferPlan(dict(input_shapes), inputs, outputs)

    def _allocate(self, shape: tuple[int, ...], dtype: str, made: list[Buffer]) -> Buffer:
        buffer = self._runtime.allocate(shape, dtype)
        made.append(buffer)
        return buffer

    def _release(self, plan: BufferPlan) -> None:
        for buffer in plan.buffers():
            self._runtime.free(buffer)

    def clear(self) -> None:
        while self._plans:
            _, plan = self._plans.popitem(last=False)
            self._release(plan)


class TensorRTEngine:
    """One deserialized TensorRT engine with one execution context. Calls are serialised:
    the context and the reused buffers belong to one inference at a time."""

    backend = "tensorrt"

    def __init__(
        self,
        runtime: DeviceRuntime,
        device: str,
        metadata: Mapping[str, str] | None = None,
        *,
        max_plans: int = MAX_PLANS,
    ) -> None:
        tensors = list(runtime.tensors())
        inputs = [t for t in tensors if t.is_input]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"the engine has {len(inputs)} inputs, expected one image")
        self._runtime: DeviceRuntime | None = runtime
        self._input = inputs[0]
        self.device = device
        self.inputs = (self._input.spec,)
        self.outputs = tuple(t.spec for t in tensors if not t.is_input)
        self.metadata: Mapping[str, str] = dict(metadata or {})
        self._book = BindingBook(runtime, tensors, max_plans)
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, source: Path | str, config: TensorRTConfig, metadata: Mapping[str, str] | None
    ) -> TensorRTEngine:
        """The registry's way in: `metadata` (labels…) comes from the ONNX model it was built
        from, since an engine file carries none."""
        return cls.load(Path(source), metadata, max_plans=config.max_plans)

    @classmethod
    def load(
        cls, path: Path, metadata: Mapping[str, str] | None = None, *, max_plans: int = MAX_PLANS
    ) -> TensorRTEngine:
        """Deserialize `path` on GPU 0 (imports tensorrt and pycuda now, not before)."""
        if not path.is_file():
            raise ModelLoadError(f"engine file {path} does not exist")
        try:
            from appliance.engines.tensorrt_cuda import CudaRuntime
        except ImportError as exc:
            raise ModelLoadError(
                f"TensorRT engines need tensorrt and pycuda (pip extra 'tensorrt'): {exc}"
            ) from exc
        runtime = CudaRuntime.open(path)
        try:
            return cls(runtime, runtime.device_name, metadata, max_plans=max_plans)
        except BaseException:
            runtime.close()
            raise

    @property
    def buffer_sets(self) -> int:
        """Buffer sets allocated so far (one per new input shape; reuse adds none)."""
        return self._book.allocations

    @property
    def max_batch(self) -> int:
        low_high = self._input.batch_range
        return low_high[1] if low_high else max(1, self._input.shape[0])

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = self._checked(batch)
        step = self.max_batch
        with self._lock:
            if self._runtime is None:
                raise InferenceError("the TensorRT engine is closed")
            parts = [self._infer_chunk(batch[i : i + step]) for i in range(0, len(batch), step)]
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate(arrays) for arrays in zip(*parts, strict=True)]

    def _infer_chunk(self, chunk: np.ndarray) -> list[np.ndarray]:
        assert self._runtime is not None
        plan = self._book.plan(tuple(chunk.shape))
        np.copyto(plan.inputs[self._input.name].host, chunk, casting="same_kind")
        self._runtime.run(plan.input_shapes, plan.inputs, plan.outputs)
        # copies: the host buffers are overwritten by the next batch of this shape
        return [buffer.host.copy() for buffer in plan.outputs.values()]

    def _checked(self, batch: np.ndarray) -> np.ndarray:
        expected = self._input.shape
        fits = batch.ndim == len(expected) and all(
            want < 0 or got == want for want, got in zip(expected[1:], batch.shape[1:], strict=True)
        )
        if not fits:
            raise InferenceError(
                f"input {self._input.name} shape {list(batch.shape)} does not fit the "
                f"engine's {list(expected)}"
            )
        low = self._input.batch_range[0] if self._input.batch_range else 1
        if len(batch) < low:
            raise InferenceError(f"batch of {len(batch)}; this engine takes at least {low}")
        if expected[0] >= 0 and len(batch) % expected[0]:
            raise InferenceError(f"batch of {len(batch)}; this engine takes {expected[0]} a run")
        return np.ascontiguousarray(batch, dtype=self._input.dtype)

    def close(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
            if runtime is not None:
                try:
                    self._book.clear()
                finally:
                    runtime.close()
