"""POST /v1/vision/detection: DeepStack's object detection (and CodeProject.AI's), so that
Frigate's `deepstack` detector, Blue Iris and Agent DVR use the appliance unchanged.

The same path as /v1/detect (upload limit, pixel limit, the model's inference worker, the
concurrent detect places); DeepStack's request (multipart `image`, `min_confidence`,
`api_key`) and its answer and error shapes (api/deepstack.py). Its clients send their key
in the body, so this route checks its own credential (CredentialsMiddleware lets it
through): a lockout first (429), then a bearer header or dashboard session where one is
sent, before the body is read; else the `api_key` field, once the form is parsed (file
parts stay spooled, unread, until the key passes). The key is a token with the operator
scope, as for /v1/detect; with APPLIANCE_DEEPSTACK_KEYLESS=1 a request without one is served
too (Blue Iris has no field for a key), while a wrong key is still refused."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from appliance.api.auth import authenticate
from appliance.api.deepstack import DeepStackError, DeepStackResponse, DeepStackRoute
from appliance.api.deps import ServicesDep
from appliance.api.limits import LimitsDep, detect_place
from appliance.api.recording import record_after_answer
from appliance.api.uploads import image_parts, open_form
from appliance.auth.scopes import Principal, Scope
from appliance.auth.sessions import HEADER
from appliance.auth.tokens import token_id_of
from appliance.errors import InvalidInputError, UnsupportedMediaTypeError
from appliance.services.container import Services

router = APIRouter(prefix="/v1/vision", tags=["deepstack"], route_class=DeepStackRoute)

MIN_CONFIDENCE = 0.4  # DeepStack's default (its server fills in "0.40" when none is sent)
IOU = 0.45  # /v1/detect's default
MAX_FIELDS = 16  # api_key, min_confidence, model and whatever else an NVR adds
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_MEANING = {
    400: "No image, an image that does not decode, a bad min_confidence or max_det",
    401: "No valid api_key (or bearer token) while authentication is on",
    403: "The token's scope is smaller than operator",
    404: "Unknown model",
    413: "Body over the upload limit, or an image over the pixel limit",
    415: "Not a form body, or an image part of a type that is not an image",
    429: "Too many failed authentications from this client (Retry-After)",
    503: "Models loading, or the concurrent detect limit reached (Retry-After)",
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": DeepStackError, "description": meaning}
    for status, meaning in _MEANING.items()
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "api_key": {"type": "string"},
                        "model": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/detection",
    response_model=DeepStackResponse,
    responses=_RESPONSES,
    openapi_extra=_BODY,
    summary="DeepStack / CodeProject.AI compatible detection (Frigate, Blue Iris, Agent DVR)",
)
async def detection(
    request: Request,
    services: ServicesDep,
    limits: LimitsDep,
    background: BackgroundTasks,
    model: Annotated[
        str | None, Query(description="Model name (or form field `model`); else the default.")
    ] = None,
    max_det: Annotated[
        int, Query(ge=1, le=1000, description="Most predictions (Frigate reads 20 at most).")
    ] = 300,
) -> DeepStackResponse:
    started = time.perf_counter()
    authenticated = _header_credential(request, services)
    limit = services.uploads.max_body_bytes
    async with open_form(request, limit=limit, max_files=1, max_fields=MAX_FIELDS) as form:
        api_key = _text(form, "api_key")
        keyless = not api_key and services.deepstack_keyless  # opted in for keyless NVRs
        if services.auth.enabled and not authenticated and not keyless:
            _operator(request, _api_key_principal(request, services, api_key))
        chosen = model or _text(form, "model") or None
        params = services.detection.params(
            chosen, conf=_min_confidence(form), iou=IOU, max_det=max_det, classes=None
        )
        image = await _image(request, form)
    with detect_place(limits):
        results = await services.detection.detect([image], params, chosen)
    record_after_answer(background, services.recorder, "deepstack", results)
    return DeepStackResponse.of(results[0], (time.perf_counter() - started) * 1000)


def _header_credential(request: Request, services: Services) -> bool:
    """Whether a credential came beside the body (bearer header, dashboard session) and
    passed, checked before the body is read. A locked-out client is refused here, whatever
    it sends; with authentication off, nothing is checked."""
    auth = services.auth
    if not auth.enabled:
        return False
    if request.headers.get("authorization") is None and not request.headers.get(HEADER):
        auth.guard.check((auth.guard.client_address(request),))
        return False
    _operator(request, authenticate(request, services))  # checks the lockout first
    return True


def _operator(request: Request, principal: Principal) -> None:
    if not principal.allows(Scope.OPERATOR):
        raise HTTPException(
            403, f"this needs scope operator; the credential has {principal.scope.label}"
        )
    request.state.principal = principal


def _api_key_principal(request: Request, services: Services, api_key: str) -> Principal:
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if not api_key:  # Frigate sends "" unless configured: no credential, not a failed one
        raise HTTPException(
            401, "send api_key (a token with the operator scope)", headers=unauthorized
        )
    principal = services.auth.verify(api_key)
    if principal is None:
        guard = services.auth.guard
        key = (guard.client_address(request),)
        guard.failed(key, "bad_token", token_id=token_id_of(api_key), path=request.url.path)
        raise HTTPException(401, "Incorrect api key", headers=unauthorized)
    return principal


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _min_confidence(form: FormData) -> float:
    text = _text(form, "min_confidence")
    if not text:
        return MIN_CONFIDENCE
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError("Invalid value for min_confidence") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidInputError("min_confidence must be between 0 and 1")
    return value


async def _image(request: Request, form: FormData) -> bytes:
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith(_FORMS):
        raise UnsupportedMediaTypeError("send the image as multipart/form-data, field 'image'")
    return await image_parts(form, "image")[0].read()
