"""/v1/models: the model repository, uploads with validation, blue/green activation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from pydantic import Field

from appliance.api.deps import ActorDep, ModelsDep, ServicesDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.api.uploads import read_model_upload
from appliance.auth.audit import audited
from appliance.services.models import ModelView, SwapReport

router = APIRouter(prefix="/v1/models", tags=["models"])
_ERRORS = error_responses(404, 409, 413, 415, 422)


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

    @classmethod
    def of(cls, view: ModelView) -> ModelOut:
        m = view.meta
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
                }
            },
        }
    },
    summary="Upload an ONNX model: validated and benchmarked before it is kept",
)
async def upload_model(
    request: Request, models: ModelsDep, services: ServicesDep, actor: ActorDep
) -> ModelOut:
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


def _listed(cameras: list[str] | None) -> str:
    return ",".join(cameras) if cameras else "all"
