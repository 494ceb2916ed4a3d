"""The one place where exceptions become HTTP responses, all with the same body shape."""

from __future__ import annotations

import math
from http import HTTPStatus

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from appliance import errors
from appliance.api.context import REQUEST_ID
from appliance.api.schemas import ErrorBody, ErrorDetail

# Most specific first: the first class an exception is an instance of decides.
STATUS_BY_ERROR: tuple[tuple[type[errors.ApplianceError], int], ...] = (
    (errors.PayloadTooLargeError, 413),
    (errors.ImageTooLargeError, 413),
    (errors.UnsupportedMediaTypeError, 415),
    (errors.RangeNotSatisfiableError, 416),
    (errors.InvalidInputError, 422),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.TooManyFailuresError, 429),
    (errors.NotReadyError, 503),
    (errors.OverloadedError, 503),
    (errors.RemoteUnavailableError, 503),  # a remote model's server is away, not us
    (errors.InferenceError, 500),
    (errors.ModelError, 422),
)


def status_for(exc: errors.ApplianceError) -> int:
    return next((status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls)), 500)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorDetail(code=code, message=message, request_id=REQUEST_ID.get(), details=details)
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def _appliance_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ApplianceError)
    status = status_for(exc)
    if status == 503:
        logger.warning("{} unavailable: {}", request.url.path, exc.message)
    elif status >= 500:
        logger.opt(exception=exc).error("{} failed: {}", request.url.path, exc.message)
    return appliance_error_response(exc)


def appliance_error_response(exc: errors.ApplianceError) -> JSONResponse:
    """The response for one of our errors (also for middleware, outside the handlers)."""
    return error_response(status_for(exc), exc.code, exc.message, headers=error_headers(exc))


def error_headers(exc: errors.ApplianceError) -> dict[str, str] | None:
    """The headers that go with one of our errors: when to retry, what range there is."""
    if isinstance(exc, errors.RangeNotSatisfiableError):
        return {"Content-Range": f"bytes */{exc.size}"}
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a JSON body that is not UTF-8: invalid JSON like any other (422)
        detail = {"loc": ["body"], "msg": "body is not UTF-8 encoded JSON", "type": "json_invalid"}
        return error_response(422, "validation_error", f"body: {detail['msg']}", details=[detail])
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    if exc.status_code == 413:
        code = errors.PayloadTooLargeError.code  # the same code as every other 413
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, object]] = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])  # type: ignore[union-attr]
    return error_response(422, "validation_error", f"{where}: {first['msg']}", details=details)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.ApplianceError, _appliance_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


async def close_with_error(websocket: WebSocket, exc: errors.ApplianceError, code: int) -> None:
    """Tell a WebSocket client why in the standard error body, then close with `code`
    (1008 policy, 1009 too big, 1013 try again later). The socket must be accepted."""
    detail = ErrorDetail(code=exc.code, message=exc.message, request_id=REQUEST_ID.get())
    try:
        await websocket.send_text(ErrorBody(error=detail).model_dump_json(exclude_none=True))
        await websocket.close(code=code, reason=exc.code)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client has gone already
