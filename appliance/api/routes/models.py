"""/v1/models: the model repository, uploads (or remote models) with validation, blue/green
activation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, SecretStr, ValidationError

from appliance.api.deps import ActorDep, ModelsDep, ServicesDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.api.uploads import limited_receive, read_model_upload
from appliance.auth.audit import audited
from appliance.services.models import ModelView, SwapReport

router = APIRouter(prefix="/v1/models", tags=["models"])
_ERRORS = error_responses(404, 409, 413, 415, 422)
_MAX_REGISTRATION_BYTES = 64 * 1024


class RemoteTarget(Schema):
    url: str = Field(
        max_length=2048,
        description="The server, http(s)://host:port (Triton, KServe, another appliance); "
        "its Open Inference Protocol (/v2) below that.",
    )
    model: str = Field(min_length=1, max_length=256, description="The model's name there.")
    version: str = Field("", max_length=64, description="Its version; empty: the server's.")
    token: SecretStr | None = Field(
        None, description="Bearer token sent to that server (another appliance's); never shown."
    )


class RemoteRegistration(Schema):
    name: str = Field(description="The name cameras and detect requests use here.")
    remote: RemoteTarget


def _registration_schema() -> dict[str, Any]:
    """RemoteRegistration's JSON schema with RemoteTarget inline (not in the components)."""
    schema = RemoteRegistration.model_json_schema()
    schema["properties"]["remote"] = schema.pop("$defs")["RemoteTarget"]
    return schema


class RemoteOut(Schema):
    url: str
    model: str
    version: str
    token: bool = Field(description="Whether a bearer token is sent (it is never shown).")


class ModelOut(Schema):
    name: str
    version: str
    format: str
    size_bytes: int
    source: str
    created: float
    labels: list[str]
    input_size: tuple[int, int] | None
    output_family: str | None
    default: bool = Field(description="Answers detect requests that name no model.")
    cameras: list[str] = Field(description="Cameras this model serves.")
    loaded: bool
    backend: str | None
    device: str | None
    engine_note: str | None = Field(
        None, description="Why this backend serves it: engine auto's choice, a cached build."
    )
    precision: str | None = Field(
        None,
        description="What the serving engine computes in: fp32, fp16, bf16 or int8 (an OpenVINO "
        "INT8 build); null: not loaded, or a remote model.",
    )
    suppress_nested: float | None = Field(
        None,
        description="A box with this share of its area inside a larger box of its class merges "
        "into it (one object, one box), as the loaded model does it; null: off or not loaded. "
        "Set per model by its metadata key suppress_nested; on for Darknet imports.",
    )
    validation: dict[str, Any]
    remote: RemoteOut | None = Field(None, description="Served elsewhere: by this server.")

    @classmethod
    def of(cls, view: ModelView) -> ModelOut:
        m = view.meta
        remote = RemoteOut(**m.remote.model_dump()) if m.remote is not None else None
        return cls(
            name=m.name,
            version=m.version,
            format=m.format,
            size_bytes=m.size_bytes,
            source=m.source,
            created=m.created,
            labels=m.labels,
            input_size=m.input_size,
            output_family=m.output_family,
            default=view.default,
            cameras=view.cameras,
            loaded=view.loaded,
            backend=view.backend,
            device=view.device,
            engine_note=view.engine_note,
            precision=view.precision,
            suppress_nested=view.suppress_nested,
            validation=m.validation,
            remote=remote,
        )


class ModelList(Schema):
    models: list[ModelOut]


class Activation(Schema):
    cameras: list[str] | None = Field(
        None, description="Camera ids; empty/null: every camera and the detect API's default."
    )


class SwapReportOut(Schema):
    model: str
    version: str
    cameras: list[str]
    default: bool
    load_ms: float
    warmup_ms: float
    switch_ms: float = Field(description="Time to move every camera and the API to the new one.")
    rss_before_mb: float
    rss_after_mb: float
    released: list[str] = Field(description="Engines closed because nothing serves with them.")

    @classmethod
    def of(cls, report: SwapReport) -> SwapReportOut:
        return cls(**vars(report))


@router.get("", response_model=ModelList, summary="Models in the repository")
async def list_models(models: ModelsDep) -> ModelList:
    return ModelList(models=[ModelOut.of(v) for v in await models.list()])


@router.post(
    "",
    response_model=ModelOut,
    status_code=201,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "name": {"type": "string"},
                        },
                        "required": ["file"],
                    }
                },
                "application/json": {"schema": _registration_schema()},
            },
        }
    },
    summary="Upload an ONNX model, or register a remote one (JSON): validated and "
    "benchmarked before it is kept",
)
async def upload_model(
    request: Request, models: ModelsDep, services: ServicesDep, actor: ActorDep
) -> ModelOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await _registration(request)
        target = body.remote
        token = target.token.get_secret_value() if target.token is not None else ""
        with audited("model.register", actor, target=body.name, remote=target.url):
            view = await models.register_remote(
                body.name, target.url, target.model, target.version, token
            )
        return ModelOut.of(view)
    folder = models.repository.root / ".uploads"
    limit = services.uploads.max_model_bytes
    name, staged = await read_model_upload(request, limit=limit, folder=folder)
    try:
        with audited("model.upload", actor, target=name):
            return ModelOut.of(await models.upload(name, staged))
    finally:
        await to_thread.run_sync(Path.unlink, staged, True)


@router.get("/{name}", response_model=ModelOut, responses=_ERRORS, summary="One model")
async def get_model(name: str, models: ModelsDep) -> ModelOut:
    return ModelOut.of(await models.get(name))


@router.delete("/{name}", status_code=204, responses=_ERRORS, summary="Delete an unused model")
async def delete_model(name: str, models: ModelsDep, actor: ActorDep) -> Response:
    with audited("model.delete", actor, target=name):
        await models.delete(name)
    return Response(status_code=204)


@router.post(
    "/{name}/activate",
    response_model=SwapReportOut,
    responses=_ERRORS,
    summary="Switch cameras (or everything) to this model, blue/green",
)
async def activate_model(
    name: str, models: ModelsDep, actor: ActorDep, body: Activation | None = None
) -> SwapReportOut:
    cameras = body.cameras if body is not None and body.cameras else None
    with audited("model.activate", actor, target=name, cameras=_listed(cameras)):
        return SwapReportOut.of(await models.activate(name, cameras))


async def _registration(request: Request) -> RemoteRegistration:
    """A remote model's registration, read under a small limit and validated."""
    limited = Request(request.scope, limited_receive(request.receive, _MAX_REGISTRATION_BYTES))
    try:
        return RemoteRegistration.model_validate_json(await limited.body())
    except ValidationError as exc:
        problems = exc.errors(include_input=False)  # the input may hold the token
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in problems]
        ) from None


def _listed(cameras: list[str] | None) -> str:
    return ",".join(cameras) if cameras else "all"
