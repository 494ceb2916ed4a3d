"""What TensorRTEngine and its GPU side share: I/O tensor descriptions, buffers, dtype names
and the `DeviceRuntime` seam. Its own module so that tensorrt.py (bookkeeping) and
tensorrt_cuda.py (TensorRT + pycuda) both import it instead of each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from appliance.engines.base import Dim, TensorSpec
from appliance.errors import UnsupportedModelError

# TensorRT's DataType names (`trt.DataType.X.name`) → numpy dtypes. BF16, FP8, FP4 and INT4
# have no numpy type: an engine with such I/O tensors is refused at load.
TRT_DTYPES: dict[str, str] = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}


def numpy_dtype(trt_name: str) -> str:
    """The numpy dtype of a TensorRT DataType name, or UnsupportedModelError."""
    try:
        return TRT_DTYPES[trt_name.removeprefix("DataType.")]
    except KeyError:
        raise UnsupportedModelError(f"TensorRT type {trt_name} has no numpy equivalent") from None


@dataclass(frozen=True)
class IoTensor:
    """One I/O tensor of an engine. `shape` has -1 where the engine accepts any size;
    `batch_range` is the first profile's (min, max) for the batch dimension of inputs."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: str
    batch_range: tuple[int, int] | None = None

    @property
    def spec(self) -> TensorSpec:
        dims: tuple[Dim, ...] = tuple(d if d >= 0 else None for d in self.shape)
        return TensorSpec(self.name, dims, self.dtype)


@dataclass
class Buffer:
    """Pinned host memory and its device twin. `handle` is what the runtime frees."""

    host: np.ndarray
    device: int
    handle: Any = None


class DeviceRuntime(Protocol):
    """What TensorRTEngine needs from TensorRT and CUDA; every call makes the CUDA context
    current for its own duration (the engine is used from several threads)."""

    def tensors(self) -> Sequence[IoTensor]: ...

    def output_shapes(self, input_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple]:
        """Set the input shapes on the execution context; the output shapes they give."""
        ...

    def allocate(self, shape: tuple[int, ...], dtype: str) -> Buffer: ...

    def free(self, buffer: Buffer) -> None: ...

    def run(
        self,
        input_shapes: Mapping[str, tuple[int, ...]],
        inputs: Mapping[str, Buffer],
        outputs: Mapping[str, Buffer],
    ) -> None:
        """Bind the buffers, copy inputs to the device, execute, copy outputs back, wait."""
        ...

    def close(self) -> None: ...
