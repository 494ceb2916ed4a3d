"""Live output of a camera: snapshot, MJPEG stream and WebSocket."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

import anyio
from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from appliance.api.deps import CamerasDep
from appliance.api.errors import close_with_error
from appliance.api.openapi import error_responses
from appliance.api.schemas import FrameMessage
from appliance.domain import ProcessedFrame
from appliance.errors import ApplianceError, NotReadyError
from appliance.services.cameras import LiveFeed

router = APIRouter(prefix="/v1/cameras", tags=["streams"])
BOUNDARY = "frame"
Annotate = Annotated[bool, Query(description="0: the raw frame without boxes")]
Preview = Annotated[
    bool,
    Query(
        description="1: frames at most 640 px wide (thumbnails, tiles): cheaper to encode, "
        "send and draw"
    ),
]
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is at a limit


class _Place(Protocol):
    def close(self) -> None: ...


class _ViewerStream(StreamingResponse):
    """Gives the viewer's place back however the response ends, even when its body
    never started (the client left before the first frame)."""

    def __init__(self, place: _Place, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._place = place

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._place.close()


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 503)},
    summary="The newest processed frame as JPEG",
)
async def snapshot(
    camera_id: str, cameras: CamerasDep, annotate: Annotate = True, preview: Preview = False
) -> Response:
    broadcaster = cameras.broadcaster(camera_id)
    # 503 too_many_viewers when the camera is full
    with broadcaster.admit(annotate, preview=preview):
        after = broadcaster.start_version(annotate, preview=preview)
        got = await broadcaster.next_encoded(annotate, after, timeout=5.0, preview=preview)
    if got is None:
        raise NotReadyError(f"camera {camera_id!r} has no frame yet", retry_after=1.0)
    frame = got[1]
    headers = {"X-Frame-Id": str(frame.processed.frame.frame_id), "Cache-Control": "no-store"}
    return Response(frame.jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/{camera_id}/stream.mjpg",
    response_class=StreamingResponse,
    responses={
        200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}},
        **error_responses(404, 503),
    },
    summary="Live MJPEG stream (annotated unless annotate=0)",
)
async def stream(
    camera_id: str,
    cameras: CamerasDep,
    annotate: Annotate = True,
    fps: Annotated[float | None, Query(gt=0, le=60, description="Cap on frames per second")] = None,
    preview: Preview = False,
) -> StreamingResponse:
    broadcaster = cameras.broadcaster(camera_id)
    place = broadcaster.admit(annotate, preview=preview)  # refused here, before the 200 is sent

    async def parts() -> AsyncIterator[bytes]:
        version, next_at = broadcaster.start_version(annotate, preview=preview), 0.0
        with place:
            while not broadcaster.closed:
                got = await broadcaster.next_encoded(
                    annotate, version, timeout=2.0, preview=preview
                )
                if got is None:
                    continue
                version, frame = got
                yield _part(frame.jpeg)
                broadcaster.record_delivery((time.monotonic() - frame.encoded_mono) * 1000)
                if fps:
                    next_at = max(next_at, time.monotonic()) + 1 / fps
                    await anyio.sleep(max(0.0, next_at - time.monotonic()))

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return _ViewerStream(
        place,
        parts(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers=headers,
    )


def _render(processed: ProcessedFrame) -> str:
    return FrameMessage.of(processed).model_dump_json()


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


@router.websocket("/{camera_id}/ws")
async def camera_ws(
    websocket: WebSocket,
    camera_id: str,
    cameras: CamerasDep,
    video: Annotated[bool, Query()] = True,
    annotate: Annotated[bool, Query()] = True,
) -> None:
    """Per processed frame: a JSON message, then (unless video=0) the JPEG as binary."""
    broadcaster = cameras.broadcaster(camera_id)
    await websocket.accept()
    try:
        place = broadcaster.admit(annotate if video else None)
    except ApplianceError as exc:
        await close_with_error(websocket, exc, TRY_AGAIN_LATER)
        return
    with place:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                _send_frames, websocket, broadcaster, video, annotate, tasks.cancel_scope
            )
            await _wait_for_close(websocket)
            tasks.cancel_scope.cancel()


async def _wait_for_close(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # this socket only sends; anything the client says is ignored


async def _send_frames(
    websocket: WebSocket, feed: LiveFeed, video: bool, annotate: bool, scope: anyio.CancelScope
) -> None:
    try:
        if video:
            await _send_video(websocket, feed, annotate)
        else:
            await _send_metadata(websocket, feed)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left
    if feed.closed:
        await websocket.close(code=1001, reason="camera removed or server stopping")
    scope.cancel()


async def _send_video(websocket: WebSocket, feed: LiveFeed, annotate: bool) -> None:
    # the viewer's place (admitted by the route) has asked the encoder for frames
    version = feed.start_version(annotate)
    while not feed.closed:
        got = await feed.next_encoded(annotate, version)
        if got is None:
            continue
        version, encoded = got
        await websocket.send_text(feed.message(encoded.processed, _render))
        await websocket.send_bytes(encoded.jpeg)
        feed.record_delivery((time.monotonic() - encoded.encoded_mono) * 1000)


async def _send_metadata(websocket: WebSocket, feed: LiveFeed) -> None:
    version = 0
    while not feed.closed:
        got = await feed.next_processed(version)
        if got is not None:
            version, processed = got
            await websocket.send_text(feed.message(processed, _render))
