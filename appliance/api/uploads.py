"""Reading uploaded images from a request body, enforcing the size limit while reading."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from appliance.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError
from appliance.imaging import ACCEPTED_TYPES, check_content_type

# Clients often label file parts generically; the bytes are sniffed anyway.
_GENERIC_PART_TYPES = {"", "application/octet-stream"}


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")


def limited_receive(
    receive: Receive, limit: int, too_large: Callable[[], Exception] | None = None
) -> Receive:
    """A receive channel that raises `too_large()` (default: PayloadTooLargeError) as soon
    as the body passes `limit` bytes."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large() if too_large is not None else _too_large(limit)
        return message

    return receive_limited


async def read_images(request: Request, *, field: str, limit: int, max_files: int) -> list[bytes]:
    """Images from a raw `image/*` body, or from the multipart parts named `field`."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        async with open_form(
            request, limit=limit, max_files=max_files, max_fields=max_files
        ) as form:
            return [await part.read() for part in image_parts(form, field)]
    check_declared_length(request, limit)
    check_content_type(content_type)
    limited = Request(request.scope, limited_receive(request.receive, limit))
    return [await limited.body()]


def check_declared_length(request: Request, limit: int) -> None:
    """Refuse a body whose declared length is over `limit` before a byte of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


@asynccontextmanager
async def open_form(
    request: Request, *, limit: int, max_files: int, max_fields: int
) -> AsyncIterator[FormData]:
    """The request's form (multipart or urlencoded; empty for any other body), parsed under
    the size limit. File parts stay spooled (memory, then disk) until read, and are closed
    on leaving."""
    check_declared_length(request, limit)
    limited = Request(request.scope, limited_receive(request.receive, limit))
    try:
        form = await limited.form(max_files=max_files, max_fields=max_fields)
    except HTTPException as exc:  # Starlette's multipart parser: malformed, too many parts
        raise InvalidInputError(f"unusable multipart body: {exc.detail}") from None
    try:
        yield form
    finally:
        await form.close()


def image_parts(form: FormData, field: str) -> list[UploadFile]:
    """The file parts named `field`, each of an image type (or a generic one)."""
    parts = [p for p in form.getlist(field) if isinstance(p, UploadFile)]
    if not parts:
        raise InvalidInputError(f"multipart body has no file part named {field!r}")
    for part in parts:
        declared = (part.content_type or "").split(";")[0].strip().lower()
        if declared not in _GENERIC_PART_TYPES and declared not in ACCEPTED_TYPES:
            check_content_type(declared)
    return parts


async def read_model_upload(request: Request, *, limit: int, folder: Path) -> tuple[str, Path]:
    """The multipart `file` part of a model upload, streamed to a file in `folder` under the
    size limit; returns its client-side name and where it lies (the caller removes it)."""
    check_declared_length(request, limit)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UnsupportedMediaTypeError("upload the model as multipart/form-data, field 'file'")
    async with open_form(request, limit=limit, max_files=1, max_fields=4) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise InvalidInputError("multipart body has no file part named 'file'")
        staged = await to_thread.run_sync(_staging_file, folder, Path(part.filename).suffix)
        with staged.open("wb") as out:  # disk writes off the event loop, a chunk at a time
            while chunk := await part.read(1 << 20):
                await to_thread.run_sync(out.write, chunk)
        name = form.get("name")
        return (name if isinstance(name, str) and name else Path(part.filename).stem), staged


def _staging_file(folder: Path, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=".upload-", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(path)
