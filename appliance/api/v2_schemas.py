"""Open Inference Protocol (KServe v2, as Triton speaks it): bodies, and tensors to and from
JSON or the binary tensor data extension (JSON header, then raw little-endian tensor bytes)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError

HEADER_LENGTH = "Inference-Header-Content-Length"
DATATYPES: dict[str, str] = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
    "uint64": "UINT64", "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64",
}  # fmt: skip
NUMPY_TYPES = {v: k for k, v in DATATYPES.items()}

Parameters = dict[str, Any]  # the protocol's $parameters: JSON scalars by name


class TensorSpecLike(Protocol):
    """What the protocol needs of an engine's tensor spec (api does not import engines)."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> tuple[int | str | None, ...]: ...
    @property
    def dtype(self) -> str: ...


class Schema(BaseModel):
    # Requests ignore unknown fields: other clients add their own, as Triton tolerates.
    model_config = ConfigDict(frozen=True)


class TensorMetadata(Schema):
    name: str
    datatype: str = Field(description="FP32, UINT8 … as the protocol names them.")
    shape: list[int] = Field(description="-1 for a dynamic dimension.")

    @classmethod
    def of(cls, spec: TensorSpecLike) -> TensorMetadata:
        shape = [d if isinstance(d, int) else -1 for d in spec.shape]
        return cls(name=spec.name, datatype=datatype(spec.dtype), shape=shape)


class ServerMetadata(Schema):
    name: str
    version: str
    extensions: list[str]


class ModelMetadata(Schema):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ConfigTensor(Schema):
    name: str
    data_type: str = Field(description="TYPE_FP32 … as Triton's model configuration names them.")
    dims: list[int]


class ModelConfig(Schema):
    """Triton's model configuration, as far as an appliance model has one. `parameters`
    carries the model's own metadata (labels as `names`), so a remote engine can read it."""

    name: str
    platform: str
    backend: str
    max_batch_size: int = Field(0, description="0: dims include the batch dimension.")
    input: list[ConfigTensor]
    output: list[ConfigTensor]
    parameters: dict[str, dict[str, str]] = Field(default_factory=dict)


class RepositoryModel(Schema):
    name: str
    version: str | None = None
    state: str = Field(description="READY, LOADING or UNAVAILABLE.")
    reason: str = ""


class RequestInput(Schema):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters = Field(default_factory=dict)
    data: list[Any] | None = None


class RequestOutput(Schema):
    name: str
    parameters: Parameters = Field(default_factory=dict)


class InferenceRequest(Schema):
    id: str | None = None
    parameters: Parameters = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(Schema):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(Schema):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


def datatype(dtype: str) -> str:
    """The protocol's name for a numpy dtype name (unknown ones upper-cased, as found)."""
    return DATATYPES.get(dtype, dtype.upper())


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent before gzip/deflate request compression (tritonclient offers it),
    stopping at `limit` bytes so a small bomb cannot fill memory."""
    if encoding in (None, "", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaTypeError(f"Content-Encoding {encoding!r}: use gzip or deflate")
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip or a zlib header, told apart
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInputError(f"body does not decompress as {encoding}: {exc}") from None
    if len(data) > limit:
        raise PayloadTooLargeError(f"decompressed body exceeds the limit of {limit} bytes")
    return data


def parse_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """The JSON request and the binary tensor bytes after it (empty without the extension)."""
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidInputError(f"{HEADER_LENGTH} {header_length!r} does not fit the body")
        split = int(header_length)
    try:
        return InferenceRequest.model_validate_json(body[:split]), body[split:]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInputError(f"invalid inference request: {where}: {first['msg']}") from None


def input_tensor(
    request: InferenceRequest, binary: bytes, spec: TensorSpecLike, max_batch: int
) -> np.ndarray:
    """The request's one input as an array, checked against the model's input `spec`."""
    if len(request.inputs) != 1 or request.inputs[0].name != spec.name:
        names = [tensor.name for tensor in request.inputs]
        raise InvalidInputError(f"the model takes one input named {spec.name!r}, got {names}")
    tensor = request.inputs[0]
    _check_against(tensor, spec, max_batch)
    dtype = np.dtype(NUMPY_TYPES[tensor.datatype])
    count = math.prod(tensor.shape)
    size = tensor.parameters.get("binary_data_size")
    if size is None:
        return _from_json(tensor, dtype, count)
    if tensor.data is not None:
        raise InvalidInputError(f"input {tensor.name!r} has both JSON data and binary_data_size")
    if size != len(binary) or size != count * dtype.itemsize:
        raise InvalidInputError(
            f"input {tensor.name!r}: binary_data_size {size}, {len(binary)} bytes after the "
            f"header, {count * dtype.itemsize} expected for shape {tensor.shape}"
        )
    little = np.frombuffer(binary, dtype=dtype.newbyteorder("<"))
    return little.astype(dtype).reshape(tensor.shape)  # a native, writable copy


def _check_against(tensor: RequestInput, spec: TensorSpecLike, max_batch: int) -> None:
    expected = datatype(spec.dtype)
    if expected not in NUMPY_TYPES:
        raise InvalidInputError(f"the model's input datatype {expected} is not supported here")
    if tensor.datatype != expected:
        raise InvalidInputError(
            f"input {tensor.name!r} has datatype {tensor.datatype}, the model takes {expected}"
        )
    model_shape = TensorMetadata.of(spec).shape
    fits = len(tensor.shape) == len(model_shape) and all(
        got == want or (want == -1 and got > 0)
        for got, want in zip(tensor.shape, model_shape, strict=True)
    )
    if not fits:
        raise InvalidInputError(
            f"input {tensor.name!r} has shape {tensor.shape}, the model takes {model_shape}"
        )
    if model_shape[0] == -1 and tensor.shape[0] > max_batch:
        raise InvalidInputError(f"batch of {tensor.shape[0]}; at most {max_batch} a batch")


def _from_json(tensor: RequestInput, dtype: np.dtype, count: int) -> np.ndarray:
    if tensor.data is None:
        raise InvalidInputError(f"input {tensor.name!r} has neither data nor binary_data_size")
    try:
        array = np.asarray(tensor.data, dtype=dtype)  # flat or nested, row-major
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"input {tensor.name!r}: unusable data: {exc}") from None
    if array.size != count:
        raise InvalidInputError(
            f"input {tensor.name!r}: {array.size} values for shape {tensor.shape}"
        )
    return array.reshape(tensor.shape)


def encode_response(
    request: InferenceRequest,
    model: tuple[str, str],
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
) -> tuple[bytes, int | None]:
    """The body answering `request` for `model` (name, version) with the outputs `names` ->
    `arrays`, and, when some output is binary, the length of the JSON header before them."""
    by_name = dict(zip(names, arrays, strict=True))
    default_binary = bool(request.parameters.get("binary_data_output", False))
    wanted = request.outputs or [RequestOutput(name=name) for name in names]
    outputs: list[ResponseOutput] = []
    chunks: list[bytes] = []
    for output in wanted:
        if output.name not in by_name:
            raise InvalidInputError(f"the model has no output {output.name!r}; it has {names}")
        if output.parameters.get("classification"):
            raise InvalidInputError("the classification extension is not supported")
        array = by_name[output.name]
        binary = bool(output.parameters.get("binary_data", default_binary))
        outputs.append(_output(output.name, array, binary))
        if binary:
            chunks.append(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes())
    header = InferenceResponse(
        model_name=model[0], model_version=model[1], id=request.id, outputs=outputs
    )
    head = header.model_dump_json(exclude_none=True).encode()
    return (head + b"".join(chunks), len(head)) if chunks else (head, None)


def _output(name: str, array: np.ndarray, binary: bool) -> ResponseOutput:
    common = {"name": name, "shape": list(array.shape), "datatype": datatype(str(array.dtype))}
    if binary:
        return ResponseOutput(**common, parameters={"binary_data_size": array.nbytes})
    return ResponseOutput(**common, data=array.ravel().tolist())
