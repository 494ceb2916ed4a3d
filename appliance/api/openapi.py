"""OpenAPI documentation of error responses, shared by the routers."""

from __future__ import annotations

from typing import Any

from appliance.api.schemas import ErrorBody

_MEANING = {
    404: "Unknown model, camera, job or event",
    409: "Conflicts with the current state (e.g. an id already in use)",
    413: "Body over the upload limit, or an image over the pixel limit",
    415: "Not a JPEG, PNG or WebP content type",
    416: "A byte range starting past the end of the file",
    422: "Invalid parameters, bytes that are not a decodable image, or a backend not here",
    503: "Models loading or failed, or a limit reached (Retry-After when worth retrying)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting the standard error body for these statuses."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}
