"""Open Inference Protocol (KServe v2) as NVIDIA Triton serves it, so that tritonclient and
KServe clients can use the appliance's models as raw tensor engines.

Errors here take Triton's shape, `{"error": "message"}` (what tritonclient reads), and
invalid requests answer 400 as Triton does; the rest of the API keeps the standard body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from loguru import logger
from pydantic import BaseModel

from appliance import __version__
from appliance.api.deps import DetectionDep, ServicesDep
from appliance.api.errors import status_for
from appliance.api.limits import DetectSlot
from appliance.api.v2_schemas import (
    HEADER_LENGTH,
    ConfigTensor,
    InferenceRequest,
    InferenceResponse,
    ModelConfig,
    ModelMetadata,
    RepositoryModel,
    ServerMetadata,
    TensorMetadata,
    TensorSpecLike,
    decompress,
    encode_response,
    input_tensor,
    parse_request,
)
from appliance.domain import ModelRef
from appliance.errors import (
    ApplianceError,
    InvalidInputError,
    ModelNotFoundError,
    NotReadyError,
    PayloadTooLargeError,
)
from appliance.services.detection import DetectionService, ServiceState

EXTENSIONS = ["binary_tensor_data", "model_repository", "model_configuration"]
# as Triton names its backends' platforms (OpenVINO's backend has no platform of its own)
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino", "tensorrt": "tensorrt_plan"}


class _Engine(Protocol):
    @property
    def backend(self) -> str: ...
    @property
    def inputs(self) -> Sequence[TensorSpecLike]: ...
    @property
    def outputs(self) -> Sequence[TensorSpecLike]: ...
    @property
    def metadata(self) -> Any: ...


class _Model(Protocol):
    """What these routes read of a loaded detector (api does not import models)."""

    @property
    def ref(self) -> ModelRef: ...
    @property
    def engine(self) -> _Engine: ...


class TritonErrorRoute(APIRoute):
    """Answers this router's errors in Triton's shape: tritonclient shows `error` as the
    message of its InferenceServerException. Status codes come from the one shared table."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApplianceError as exc:
                return _error(request, status_for(exc), exc.message, exc.retry_after)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
                where = ".".join(str(part) for part in first.get("loc", ()))
                return _error(request, 400, f"{where}: {first.get('msg')}", None)

        return handle


def _error(request: Request, status: int, message: str, retry_after: float | None) -> Response:
    status = 400 if status == 422 else status  # Triton: invalid arguments are 400
    if status >= 500 and status != 503:
        logger.error("{} failed: {}", request.url.path, message)
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class TritonError(BaseModel):
    error: str


def _triton_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Invalid request (Triton answers 400 where the rest of the API says 422)",
        404: "No such model or version",
        413: "Body over the limit",
        503: "Models loading or failed, or too many requests in flight (Retry-After)",
    }
    return {s: {"model": TritonError, "description": meaning[s]} for s in statuses}


router = APIRouter(
    prefix="/v2",
    tags=["v2 (Open Inference Protocol)"],
    route_class=TritonErrorRoute,
    responses=_triton_errors(400, 404, 503),
)
EMPTY = {"response_class": Response}  # an empty 200: no body, no content type


def _model(detection: DetectionService, name: str, version: str | None) -> _Model:
    """The loaded model `name`; 404 when `version` is given and is not its version."""
    model: _Model = detection.detector(name)
    if version is not None and version != model.ref.version:
        raise ModelNotFoundError(
            f"model {name!r} has no version {version!r}; it serves {model.ref.version!r}"
        )
    return model


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, failing as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return decompress(b"".join(chunks), request.headers.get("content-encoding"), limit)


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(name="edge-appliance", version=__version__, extensions=EXTENSIONS)


@router.get("/health/live", summary="Liveness: the server answers", **EMPTY)
async def live() -> Response:
    return Response()


@router.get("/health/ready", summary="Readiness: every model is loaded and warm", **EMPTY)
async def ready(detection: DetectionDep) -> Response:
    if detection.readiness.state is ServiceState.READY:
        return Response()
    if detection.readiness.state is ServiceState.FAILED:
        raise NotReadyError(f"models failed to load: {detection.readiness.error}")
    raise NotReadyError("models are loading and warming up", retry_after=1.0)


def _metadata(model: _Model) -> ModelMetadata:
    engine = model.engine
    return ModelMetadata(
        name=model.ref.name,
        versions=[model.ref.version],
        platform=PLATFORMS.get(engine.backend, engine.backend),
        inputs=[TensorMetadata.of(spec) for spec in engine.inputs],
        outputs=[TensorMetadata.of(spec) for spec in engine.outputs],
    )


@router.get("/models/{name}", response_model=ModelMetadata, summary="Model metadata")
async def model_metadata(name: str, detection: DetectionDep) -> ModelMetadata:
    return _metadata(_model(detection, name, None))


@router.get(
    "/models/{name}/versions/{version}", response_model=ModelMetadata, summary="Model metadata"
)
async def version_metadata(name: str, version: str, detection: DetectionDep) -> ModelMetadata:
    return _metadata(_model(detection, name, version))


def _config(model: _Model) -> ModelConfig:
    def tensors(specs: Sequence[TensorSpecLike]) -> list[ConfigTensor]:
        meta = [TensorMetadata.of(spec) for spec in specs]
        return [
            ConfigTensor(name=m.name, data_type=f"TYPE_{m.datatype}", dims=m.shape) for m in meta
        ]

    engine = model.engine
    return ModelConfig(
        name=model.ref.name,
        platform=PLATFORMS.get(engine.backend, engine.backend),
        backend=engine.backend,
        input=tensors(engine.inputs),
        output=tensors(engine.outputs),
        parameters={key: {"string_value": str(value)} for key, value in engine.metadata.items()},
    )


@router.get("/models/{name}/config", response_model=ModelConfig, summary="Model configuration")
async def model_config(name: str, detection: DetectionDep) -> ModelConfig:
    return _config(_model(detection, name, None))


@router.get(
    "/models/{name}/versions/{version}/config",
    response_model=ModelConfig,
    summary="Model configuration",
)
async def version_config(name: str, version: str, detection: DetectionDep) -> ModelConfig:
    return _config(_model(detection, name, version))


@router.get("/models/{name}/ready", summary="Model readiness", **EMPTY)
async def model_ready(name: str, detection: DetectionDep) -> Response:
    _model(detection, name, None)
    return Response()


@router.get("/models/{name}/versions/{version}/ready", summary="Model readiness", **EMPTY)
async def version_ready(name: str, version: str, detection: DetectionDep) -> Response:
    _model(detection, name, version)
    return Response()


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` inlined: `#/$defs/…` would not resolve at
    the root of the OpenAPI document it is embedded in."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        return [walk(item) for item in node] if isinstance(node, list) else node

    return dict(walk(schema))


_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Output tensors as JSON, or a JSON header then binary tensors",
        "content": {
            "application/json": {"schema": _inlined(InferenceResponse.model_json_schema())},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **_triton_errors(413),
}
_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inlined(InferenceRequest.model_json_schema())},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": f"JSON request of {HEADER_LENGTH} bytes, then binary tensors",
            },
        },
    }
}


async def _infer(
    request: Request, services: ServicesDep, name: str, version: str | None
) -> Response:
    detection = services.detection
    model = _model(detection, name, version)
    engine = model.engine
    # Protocol bodies are larger than images (JSON floats): allow what /v1/detect/batch does.
    limit = services.uploads.max_body_bytes * detection.limits.max_batch
    body = await _read_body(request, limit)
    infer_request, binary = parse_request(body, request.headers.get(HEADER_LENGTH))
    tensor = input_tensor(infer_request, binary, engine.inputs[0], detection.limits.max_batch)
    arrays = await detection.infer_tensor(name, tensor)
    names = [spec.name for spec in engine.outputs]
    content, header_length = encode_response(
        infer_request, (name, model.ref.version), names, arrays
    )
    if header_length is None:
        return Response(content, media_type="application/json")
    headers = {HEADER_LENGTH: str(header_length)}
    return Response(content, media_type="application/octet-stream", headers=headers)


@router.post(
    "/models/{name}/infer",
    openapi_extra=_INFER_DOC,
    responses=_INFER_RESPONSES,
    response_class=Response,
    dependencies=[DetectSlot],
    summary="Run the model on tensors",
)
async def infer(request: Request, name: str, services: ServicesDep) -> Response:
    return await _infer(request, services, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    openapi_extra=_INFER_DOC,
    responses=_INFER_RESPONSES,
    response_class=Response,
    dependencies=[DetectSlot],
    summary="Run this version of the model on tensors",
)
async def infer_version(
    request: Request, name: str, version: str, services: ServicesDep
) -> Response:
    return await _infer(request, services, name, version)


@router.post("/repository/index", response_model=list[RepositoryModel], summary="Models and states")
async def repository_index(detection: DetectionDep) -> list[RepositoryModel]:
    readiness = detection.readiness
    loaded = {model.name: model.version for model in readiness.models}
    failed = readiness.state is ServiceState.FAILED
    return [
        RepositoryModel(name=name, version=loaded[name], state="READY")
        if name in loaded
        else RepositoryModel(
            name=name,
            state="UNAVAILABLE" if failed else "LOADING",
            reason=(readiness.error or "") if failed else "",
        )
        for name in detection.model_names
    ]


@router.post(
    "/repository/models/{name}/load", summary="Load a model (configured ones are loaded)", **EMPTY
)
async def load_model(name: str, detection: DetectionDep) -> Response:
    # Every configured model is loaded at start-up: loading one again succeeds at no cost.
    _model(detection, name, None)
    return Response()


@router.post("/repository/models/{name}/unload", summary="Unloading is not supported", **EMPTY)
async def unload_model(name: str, detection: DetectionDep) -> Response:
    _model(detection, name, None)
    raise InvalidInputError(
        f"unloading {name!r} is not supported here: models are managed through /v1/models"
    )
