"""WS /v1/detect/ws: a client streams frames, each processed one is answered with JSON."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, WebSocket
from starlette.websockets import WebSocketDisconnect

from appliance.api.context import REQUEST_ID
from appliance.api.deps import DetectionDep, RecorderDep
from appliance.api.errors import close_with_error
from appliance.api.limits import LimitsDep, RateLimit
from appliance.api.routes.detect import DetectQuery
from appliance.api.schemas import DetectResponse, ErrorBody, ErrorDetail, StreamError, StreamResult
from appliance.errors import ApplianceError, InvalidInputError, PayloadTooLargeError
from appliance.services.detect_stream import DetectStream, StreamReply
from appliance.services.recorder import DetectionRecorder

router = APIRouter(prefix="/v1/detect", tags=["detect"])
MESSAGE_TOO_BIG = 1009  # WebSocket close code


@router.websocket("/ws")
async def detect_ws(
    websocket: WebSocket,
    query: Annotated[DetectQuery, Query()],
    detection: DetectionDep,
    recorder: RecorderDep,
    limits: LimitsDep,
) -> None:
    """Send binary JPEG/PNG/WebP frames; each processed one is answered with JSON."""
    await websocket.accept()
    send_lock = anyio.Lock()
    try:
        detection.detector(query.model)  # an unknown model is refused on connect
        stream = DetectStream(detection, query.params(detection), query.model)
    except ApplianceError as exc:
        detail = ErrorDetail(code=exc.code, message=exc.message, request_id=REQUEST_ID.get())
        await websocket.send_text(ErrorBody(error=detail).model_dump_json(exclude_none=True))
        await websocket.close(code=1008, reason=exc.code)
        return
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_answer_frames, websocket, stream, recorder, send_lock)
        await _receive_frames(websocket, stream, send_lock, limits)
        tasks.cancel_scope.cancel()


async def _receive_frames(
    websocket: WebSocket, stream: DetectStream, send_lock: anyio.Lock, limits: LimitsDep
) -> None:
    rate = RateLimit(limits.max_ws_fps)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frame, text = message.get("bytes"), message.get("text")
        size = len(frame) if frame is not None else len(text or "")
        if size > limits.max_ws_message_bytes:  # uvicorn's ws_max_size catches it first
            error = PayloadTooLargeError(
                f"message of {size} bytes; at most {limits.max_ws_message_bytes} "
                "(APPLIANCE_MAX_WS_MESSAGE_MB)"
            )
            async with send_lock:
                await close_with_error(websocket, error, MESSAGE_TOO_BIG)
            return
        if not rate.allow():  # over APPLIANCE_MAX_WS_FPS: dropped unread, like a stale frame
            stream.skip()
            continue
        if frame is not None:
            stream.offer(frame)
            continue
        reply = stream.reject(InvalidInputError("send each frame as one binary message"))
        if not await _send(websocket, reply, send_lock):
            return


async def _answer_frames(
    websocket: WebSocket, stream: DetectStream, recorder: DetectionRecorder, send_lock: anyio.Lock
) -> None:
    while True:
        reply = await stream.next_reply()
        if not await _send(websocket, reply, send_lock):
            return
        if reply.result is not None:
            recorder.record("websocket", [reply.result])


async def _send(websocket: WebSocket, reply: StreamReply, send_lock: anyio.Lock) -> bool:
    """Send one reply; False once the client has gone."""
    if reply.result is not None:
        body = StreamResult(
            seq=reply.seq, dropped=reply.dropped, **DetectResponse.of(reply.result).model_dump()
        )
    else:
        assert reply.error is not None
        detail = ErrorDetail(
            code=reply.error.code, message=reply.error.message, request_id=REQUEST_ID.get()
        )
        body = StreamError(error=detail, seq=reply.seq, dropped=reply.dropped)
    try:
        async with send_lock:
            await websocket.send_text(body.model_dump_json(exclude_none=True))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return False
    return True
