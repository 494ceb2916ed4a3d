"""WS /v1/events: camera state changes and errors, device warnings (system.warning), live."""

from __future__ import annotations

import json

import anyio
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from appliance.api.deps import EventsDep

router = APIRouter(tags=["events"])


@router.websocket("/v1/events")
async def events_ws(websocket: WebSocket, events: EventsDep) -> None:
    """Each event is one JSON message: {"type": "camera.state", "at": …, …}. The recent
    events come first, so a dashboard that just opened sees how things stand."""
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
