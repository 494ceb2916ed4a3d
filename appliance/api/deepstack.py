"""DeepStack's wire format, which CodeProject.AI kept: the detection answer, its error body
(`success: false, error`), and a route class that gives a route's errors that body.

Clients read `success`, `predictions` (`label`, `confidence`, `x_min`, `y_min`, `x_max`,
`y_max`: whole pixels of the uploaded image) and `error`; Frigate's `deepstack` detector
stops at the first prediction under its own threshold, so predictions come most confident
first. CodeProject.AI's extra fields (`code`, `count`, `message`, `inferenceMs`, …) are there
for Blue Iris and Agent DVR, which talk to either server."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from loguru import logger
from pydantic import Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from appliance import errors
from appliance.api.errors import error_headers, status_for
from appliance.api.schemas import Schema
from appliance.domain import Detection, DetectionResult

MODULE_ID = "appliance-detection"


class DeepStackPrediction(Schema):
    label: str
    confidence: float
    x_min: int = Field(description="Left edge, in pixels of the uploaded image.")
    y_min: int
    x_max: int
    y_max: int


class DeepStackResponse(Schema):
    success: bool = True
    predictions: list[DeepStackPrediction] = Field(description="Most confident first.")
    duration: float = Field(description="Milliseconds from the request to this answer.")
    count: int
    message: str
    # CodeProject.AI's fields, in its camelCase
    code: int = 200
    command: str = "detect"
    moduleId: str = MODULE_ID
    moduleName: str
    inferenceMs: int = Field(description="Milliseconds the model ran.")
    processMs: int = Field(description="Decode, model and decoding of its answer.")
    analysisRoundTripMs: int

    @classmethod
    def of(cls, result: DetectionResult, elapsed_ms: float) -> DeepStackResponse:
        ranked = sorted(result.detections, key=lambda d: d.confidence, reverse=True)
        predictions = [_prediction(d, result.width, result.height) for d in ranked]
        labels = sorted({p.label for p in predictions})
        return cls(
            predictions=predictions,
            duration=round(elapsed_ms, 1),
            count=len(predictions),
            message=f"Found {', '.join(labels)}" if labels else "No objects found",
            moduleName=f"Edge inference appliance ({result.model.name})",
            inferenceMs=round(result.timings.infer_ms),
            processMs=round(result.timings.total_ms),
            analysisRoundTripMs=round(elapsed_ms),
        )


class DeepStackError(Schema):
    success: bool = False
    error: str
    code: int = Field(description="The HTTP status, as CodeProject.AI repeats it.")
    duration: float = 0.0


def _prediction(d: Detection, width: int, height: int) -> DeepStackPrediction:
    def pixel(value: float, size: int) -> int:
        return min(max(round(value), 0), size)

    return DeepStackPrediction(
        label=d.label,
        confidence=round(d.confidence, 4),
        x_min=pixel(d.x1, width),
        y_min=pixel(d.y1, height),
        x_max=pixel(d.x2, width),
        y_max=pixel(d.y2, height),
    )


def deepstack_error(exc: Exception) -> JSONResponse | None:
    """DeepStack's error body for an exception the API answers (None for a bug: the app's
    own handlers take it). The statuses are the API's, but bad input is 400, as in DeepStack."""
    headers: dict[str, str] | None = None
    if isinstance(exc, errors.ApplianceError):
        status, message, headers = status_for(exc), exc.message, error_headers(exc)
    elif isinstance(exc, HTTPException):
        status, message, headers = exc.status_code, str(exc.detail), exc.headers
    elif isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        status, message = 400, f"{where}: {first.get('msg', 'invalid request')}"
    else:
        return None
    status = 400 if status == 422 else status
    if status == 503:
        logger.warning("DeepStack detection unavailable: {}", message)
    elif status >= 500:
        logger.opt(exception=exc).error("DeepStack detection failed: {}", message)
    body = DeepStackError(error=message, code=status)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DeepStackRoute(APIRoute):
    """A route whose errors, its dependencies' and parameters' included, have DeepStack's
    body: its clients read `error`, and the rest of the API keeps its own shape."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = deepstack_error(exc)
                if response is None:
                    raise
                return response

        return answer
