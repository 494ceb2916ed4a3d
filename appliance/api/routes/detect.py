"""POST /v1/detect and POST /v1/detect/batch."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from appliance.api.deps import ServicesDep
from appliance.api.limits import DetectSlot
from appliance.api.openapi import error_responses
from appliance.api.recording import record_after_answer
from appliance.api.schemas import BatchResponse, DetectResponse
from appliance.api.uploads import read_images
from appliance.domain import DetectionResult, DetectParams
from appliance.imaging import ACCEPTED_TYPES
from appliance.services.detection import DetectionService

router = APIRouter(prefix="/v1/detect", tags=["detect"])


class DetectQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, description="Model name; the default model when omitted.")
    conf: float = Field(0.25, ge=0, le=1, description="Minimum confidence.")
    iou: float = Field(0.45, ge=0, le=1, description="IoU above which NMS suppresses a box.")
    classes: str | None = Field(None, description="Comma-separated labels or class ids to keep.")
    max_det: int = Field(300, ge=1, le=1000, description="Most detections per image.")

    def params(self, detection: DetectionService) -> DetectParams:
        classes = (
            [c.strip() for c in self.classes.split(",") if c.strip()] if self.classes else None
        )
        return detection.params(
            self.model, conf=self.conf, iou=self.iou, max_det=self.max_det, classes=classes
        )


class SingleQuery(DetectQuery):
    format: Literal["json", "jpeg"] = Field("json", description="jpeg: the annotated image.")


def _body_doc(field: str, many: bool) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    part = {"type": "array", "items": binary} if many else binary
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {field: part}, "required": [field]}
        }
    }
    if not many:
        content.update({media: {"schema": binary} for media in ACCEPTED_TYPES})
    return {"requestBody": {"required": True, "content": content}}


_ERRORS = error_responses(404, 413, 415, 422, 503)


def _time_stages(request: Request, results: list[DetectionResult]) -> None:
    stages: dict[str, float] = request.state.server_timing
    for result in results:
        t = result.timings
        for name, ms in (("decode", t.decode_ms), ("preprocess", t.preprocess_ms),
                         ("infer", t.infer_ms), ("postprocess", t.postprocess_ms)):  # fmt: skip
            stages[name] = stages.get(name, 0.0) + ms


def _json(answer: BaseModel) -> Response:
    """The answer as JSON, serialized once: returned as a model, FastAPI would dump it,
    validate the dump against the response model and serialize that (three passes over every
    detection; `response_model` still documents it)."""
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post(
    "",
    response_model=DetectResponse,
    responses={**_ERRORS, 200: {"content": {"image/jpeg": {}}, "description": "Detections"}},
    openapi_extra=_body_doc("image", many=False),
    dependencies=[DetectSlot],
    summary="Detect objects in one image",
)
async def detect(
    request: Request,
    query: Annotated[SingleQuery, Query()],
    services: ServicesDep,
    background: BackgroundTasks,
) -> Any:
    detection = services.detection
    params = query.params(detection)
    limit = services.uploads.max_body_bytes
    images = await read_images(request, field="image", limit=limit, max_files=1)
    if query.format == "jpeg":
        result, jpeg = await detection.detect_annotated(images[0], params, query.model)
        _time_stages(request, [result])
        record_after_answer(background, services.recorder, "rest", [result])
        headers = {"X-Detections": str(len(result.detections))}
        return Response(jpeg, media_type="image/jpeg", headers=headers)
    results = await detection.detect(images, params, query.model)
    _time_stages(request, results)
    record_after_answer(background, services.recorder, "rest", results)
    return _json(DetectResponse.of(results[0]))


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses=_ERRORS,
    openapi_extra=_body_doc("images", many=True),
    dependencies=[DetectSlot],
    summary="Detect objects in several images, run as one batch where the model allows",
)
async def detect_batch(
    request: Request,
    query: Annotated[DetectQuery, Query()],
    services: ServicesDep,
    background: BackgroundTasks,
) -> Response:
    detection = services.detection
    params = query.params(detection)
    max_files = detection.limits.max_batch
    limit = services.uploads.max_body_bytes * max_files
    images = await read_images(request, field="images", limit=limit, max_files=max_files)
    results = await detection.detect(images, params, query.model)
    _time_stages(request, results)
    record_after_answer(background, services.recorder, "rest-batch", results)
    return _json(BatchResponse(results=[DetectResponse.of(r) for r in results]))
