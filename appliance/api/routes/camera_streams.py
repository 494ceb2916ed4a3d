"""Live output of a camera: snapshot, MJPEG stream and WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress
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
from appliance.errors import ApplianceError, NotReadyError
from appliance.services.live import LiveFrame, LiveViewer

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
    # 503 too_many_viewers when the camera is full
    async with cameras.watch(camera_id, annotate, preview=preview) as viewer:
        frame = await viewer.next(timeout=5.0)
    if frame is None or frame.jpeg is None:
        raise NotReadyError(f"camera {camera_id!r} has no frame yet", retry_after=1.0)
    headers = {"X-Frame-Id": str(frame.frame_id), "Cache-Control": "no-store"}
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
    # admitted here, so a full camera is refused before the 200 is sent
    viewer = cameras.watch(camera_id, annotate, preview=preview, fps=fps)

    async def parts() -> AsyncIterator[bytes]:
        async with viewer:
            async for frame in viewer:
                yield _part(frame.jpeg or b"")

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return _ViewerStream(
        viewer,
        parts(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers=headers,
    )


def _render(frame: LiveFrame) -> str:
    return FrameMessage.of(frame).model_dump_json()


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
    cameras.get(camera_id)  # an unknown camera is refused before the socket is accepted
    await websocket.accept()
    try:
        viewer = cameras.watch(camera_id, annotate if video else None)
    except ApplianceError as exc:
        await close_with_error(websocket, exc, TRY_AGAIN_LATER)
        return
    async with viewer, anyio.create_task_group() as tasks:
        tasks.start_soon(_send_frames, websocket, viewer, tasks.cancel_scope)
        await _wait_for_close(websocket)
        tasks.cancel_scope.cancel()


async def _wait_for_close(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # this socket only sends; anything the client says is ignored


async def _send_frames(websocket: WebSocket, viewer: LiveViewer, scope: anyio.CancelScope) -> None:
    try:
        async for frame in viewer:
            await websocket.send_text(viewer.message(_render))
            if frame.jpeg is not None:
                await websocket.send_bytes(frame.jpeg)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left
    if viewer.ended:
        with suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code=1001, reason="camera removed or server stopping")
    scope.cancel()
