"""/v1/events: stored events (list, read, snapshot, clip, delete), and WS /v1/events: what
happens live (camera states, warnings, events starting, changing and ending)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, Response, WebSocket
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.websockets import WebSocketDisconnect

from appliance.api.deps import EventArchiveDep, EventsDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.errors import RangeNotSatisfiableError
from appliance.services.event_archive import MAX_PAGE, EventQuery

router = APIRouter(tags=["events"])
EventId = Annotated[
    str, Path(max_length=64, description="The event's id, e.g. 1733491200.123456-ab12cd")
]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class LineCrossingOut(Schema):
    line: str
    direction: str = Field(description="in or out")
    at: float


class FrameSize(Schema):
    width: int
    height: int


class EventOut(Schema):
    id: str
    camera: str
    label: str
    track_id: int
    start_time: float = Field(description="Unix time of the object's first frame.")
    end_time: float | None = Field(description="Unix time of its last frame; null while in view.")
    top_score: float
    box: list[float] = Field(description="[x1, y1, x2, y2] in pixels, at the top score.")
    frame: FrameSize
    zones: list[str] = Field(description="Zones entered, in order.")
    lines: list[LineCrossingOut] = Field(description="Lines crossed, in order.")
    has_snapshot: bool
    has_clip: bool


class EventList(Schema):
    events: list[EventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


@router.get(
    "/v1/events",
    response_model=EventList,
    responses=error_responses(422),
    summary="Stored events, newest first",
)
async def list_events(
    archive: EventArchiveDep,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    label: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[float | None, Query(description="Started at or after (Unix time).")] = None,
    before: Annotated[float | None, Query(description="Started before (Unix time).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    query = EventQuery(camera, label, zone, after, before, limit, cursor)
    page = await asyncio.to_thread(archive.list, query)
    return {"events": page.events, "next_cursor": page.next_cursor}


@router.get(
    "/v1/events/{event_id}",
    response_model=EventOut,
    responses=error_responses(404),
    summary="One event",
)
async def get_event(event_id: EventId, archive: EventArchiveDep) -> dict[str, Any]:
    record = await asyncio.to_thread(archive.get, event_id)
    return record.to_api()


@router.get(
    "/v1/events/{event_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404)},
    summary="The frame at the event's top score (box drawn unless bbox=0; crop=1: the object)",
)
async def event_snapshot(
    event_id: EventId,
    archive: EventArchiveDep,
    bbox: bool = True,
    crop: bool = False,
) -> Response:
    jpeg = await asyncio.to_thread(archive.snapshot, event_id, bbox=bbox, crop=crop)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.get(
    "/v1/events/{event_id}/clip.mp4",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "The requested byte range", "content": {"video/mp4": {}}},
        **error_responses(404, 416),
    },
    summary="The event's clip (H.264 MP4), with Range support for seeking",
)
async def event_clip(event_id: EventId, archive: EventArchiveDep, request: Request) -> Response:
    path = await asyncio.to_thread(archive.clip, event_id)
    size = path.stat().st_size
    _check_range(request.headers.get("range"), size)
    return FileResponse(
        path,
        media_type="video/mp4",
        filename=f"{event_id}.mp4",
        content_disposition_type="inline",  # plays when opened; downloads still name it
    )


def _check_range(header: str | None, size: int) -> None:
    """A range past the end gets the standard error body (Starlette's own 416 is plain
    text); other forms Starlette answers itself."""
    if header is None:
        return
    match = _RANGE.match(header.strip())
    if match and match.group(1) and int(match.group(1)) >= size:
        raise RangeNotSatisfiableError(
            f"range {header!r} starts past the end of the clip ({size} bytes)", size=size
        )


@router.delete(
    "/v1/events/{event_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404),
    summary="Delete an event with its snapshot and clip",
)
async def delete_event(event_id: EventId, archive: EventArchiveDep) -> Response:
    await asyncio.to_thread(archive.delete, event_id)
    return Response(status_code=204)


@router.websocket("/v1/events")
async def events_ws(websocket: WebSocket, events: EventsDep) -> None:
    """Each event is one JSON message: {"type": "camera.state", "at": …, …}; stored events
    as `event.new`, `event.update` and `event.end` with the event as `event`. The recent
    messages come first, so a dashboard that just opened sees how things stand."""
    await websocket.accept()
    async with events.subscribe() as queue, anyio.create_task_group() as tasks:
        for event in events.recent():
            await websocket.send_text(json.dumps(event))

        async def forward() -> None:
            try:
                while True:
                    await websocket.send_text(json.dumps(await queue.get()))
            except (WebSocketDisconnect, RuntimeError, OSError):
                tasks.cancel_scope.cancel()

        tasks.start_soon(forward)
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
        tasks.cancel_scope.cancel()
