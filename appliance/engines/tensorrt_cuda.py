"""The GPU side of TensorRTEngine: TensorRT's runtime and pycuda, behind `DeviceRuntime`.

Imported only when a TensorRT engine is loaded. Uses the TensorRT 10 name-based tensor API
(10.x and 11.x): num_io_tensors, get_tensor_name/mode/shape/dtype, set_input_shape,
set_tensor_address, execute_async_v3. The device's primary context is pushed and popped
around every call, in `finally`, because calls come from whichever thread runs inference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt

from appliance.engines.tensorrt_types import Buffer, IoTensor, numpy_dtype
from appliance.errors import InferenceError, ModelLoadError

_LOGGER = trt.Logger(trt.Logger.WARNING)


class CudaRuntime:
    """One engine, one execution context and one stream on GPU 0's primary context."""

    def __init__(self, context: Any, engine: Any, execution: Any, stream: Any, name: str):
        self._context = context  # the CUDA primary context (retained)
        self._engine = engine
        self._execution = execution
        self._stream = stream
        self.device_name = name

    @classmethod
    def open(cls, path: Path) -> CudaRuntime:
        try:
            cuda.init()
            device = cuda.Device(0)
            context = device.retain_primary_context()
        except cuda.Error as exc:
            raise ModelLoadError(f"no usable CUDA device: {exc}") from exc
        context.push()
        try:
            runtime = trt.Runtime(_LOGGER)
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:  # TensorRT logs why: another version, GPU or a corrupt file
                raise ModelLoadError(
                    f"TensorRT {trt.__version__} cannot deserialize {path.name} (built by "
                    "another TensorRT version or for another GPU?)"
                )
            execution = engine.create_execution_context()
            if execution is None:
                raise ModelLoadError(f"no execution context for {path.name} (out of memory?)")
            stream = cuda.Stream()
            name = str(device.name())
        except cuda.Error as exc:
            raise ModelLoadError(f"CUDA error loading {path.name}: {exc}") from exc
        finally:
            context.pop()
        return cls(context, engine, execution, stream, name)

    @contextmanager
    def _current(self) -> Iterator[None]:
        self._context.push()
        try:
            yield
        except cuda.Error as exc:
            raise InferenceError(f"CUDA error: {exc}") from exc
        finally:
            self._context.pop()

    def tensors(self) -> Sequence[IoTensor]:
        engine = self._engine
        found = []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            batch_range = None
            if is_input and shape:
                batch_range = _batch_range(engine, name, shape)
            dtype = numpy_dtype(str(engine.get_tensor_dtype(name).name))
            found.append(IoTensor(name, is_input, shape, dtype, batch_range))
        return found

    def output_shapes(self, input_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple]:
        with self._current():
            self._set_shapes(input_shapes)
            engine, execution = self._engine, self._execution
            return {
                name: tuple(int(d) for d in execution.get_tensor_shape(name))
                for name in (engine.get_tensor_name(i) for i in range(engine.num_io_tensors))
                if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT
            }

    def allocate(self, shape: tuple[int, ...], dtype: str) -> Buffer:
        with self._current():
            host = cuda.pagelocked_empty(shape, np.dtype(dtype))
            device = cuda.mem_alloc(max(1, host.nbytes))
        return Buffer(host, int(device), handle=device)

    def free(self, buffer: Buffer) -> None:
        with self._current():
            buffer.handle.free()
            base = getattr(buffer.host, "base", None)
            if base is not None and hasattr(base, "free"):
                base.free()  # the pinned pages, now rather than at garbage collection

    def run(
        self,
        input_shapes: Mapping[str, tuple[int, ...]],
        inputs: Mapping[str, Buffer],
        outputs: Mapping[str, Buffer],
    ) -> None:
        execution, stream = self._execution, self._stream
        with self._current():
            self._set_shapes(input_shapes)
            for name, buffer in (*inputs.items(), *outputs.items()):
                execution.set_tensor_address(name, buffer.device)
            for buffer in inputs.values():
                cuda.memcpy_htod_async(buffer.handle, buffer.host, stream)
            if not execution.execute_async_v3(stream.handle):
                raise InferenceError("TensorRT execution failed (see the log for why)")
            for buffer in outputs.values():
                cuda.memcpy_dtoh_async(buffer.host, buffer.handle, stream)
            stream.synchronize()

    def _set_shapes(self, input_shapes: Mapping[str, tuple[int, ...]]) -> None:
        for name, shape in input_shapes.items():
            if not self._execution.set_input_shape(name, shape):
                raise InferenceError(f"TensorRT refused shape {list(shape)} for {name}")

    def close(self) -> None:
        if self._engine is None:
            return
        self._context.push()
        try:
            self._execution = None  # context before engine: TensorRT's destruction order
            self._engine = None
            self._stream = None
        finally:
            self._context.pop()
            self._context.detach()  # drop our retain of the primary context


def _batch_range(engine: Any, name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """The first optimization profile's batch range; a fixed batch is its own range."""
    if shape[0] >= 0:
        return shape[0], shape[0]
    try:
        low, _opt, high = engine.get_tensor_profile_shape(name, 0)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"the engine's input {name} has no batch profile: {exc}") from exc
    return int(low[0]), int(high[0])
