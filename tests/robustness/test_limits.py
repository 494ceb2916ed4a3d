"""Every configured limit, over the real app: concurrent detects, cameras, viewers per
camera, WebSocket message size and rate. Excess is refused at once with a clear reason."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import websockets
from helpers import Scene, Server, assert_error, start_server
from robustness_helpers import derive, serve, ws_client
from starlette.websockets import WebSocketDisconnect

from appliance.settings import Settings

JPEG = {"content-type": "image/jpeg"}
V2_BODY = {"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [0.0]}]}


# --- concurrent detect requests -----------------------------------------------------------


@pytest.mark.anyio
async def test_a_burst_over_the_detect_limit_is_refused_at_once(settings: Settings, scene):
    """8 requests at once with room for 2: the excess gets 503 overloaded with Retry-After
    without waiting for the model; afterwards every place is free again."""
    async with serve(derive(settings, max_concurrent_detects=2)) as (_, http):
        jpeg = scene.jpeg()
        responses: list[httpx.Response] = []

        async def one() -> None:
            responses.append(await http.post("/v1/detect", content=jpeg, headers=JPEG))

        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(one)
        served = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert len(served) >= 2 and refused, [r.status_code for r in responses]
        for response in refused:
            body = assert_error(response, 503, "overloaded")
            assert response.headers["retry-after"] == "1"
            assert "APPLIANCE_MAX_CONCURRENT_DETECTS" in body["error"]["message"]
            # refused at once, not queued behind the requests being served
            assert response.elapsed < max(r.elapsed for r in served)
        for _ in range(3):  # the places were given back, errors included
            bad = await http.post("/v1/detect", content=b"junk", headers=JPEG)
            assert_error(bad, 422, "invalid_image")
        for _ in range(3):
            assert (await http.post("/v1/detect", content=jpeg, headers=JPEG)).status_code == 200


@pytest.mark.anyio
async def test_every_detect_route_shares_the_limit(settings: Settings, scene: Scene):
    """/v1/detect, /v1/detect/batch and /v2 infer answer 503 while the places are taken
    (v2 in Triton's error shape), and work once they are free."""
    async with serve(derive(settings, max_concurrent_detects=1)) as (app, http):
        files = {"images": ("s.jpg", scene.jpeg(), "image/jpeg")}
        calls = {
            "detect": lambda: http.post("/v1/detect", content=scene.jpeg(), headers=JPEG),
            "batch": lambda: http.post("/v1/detect/batch", files=files),
            "v2": lambda: http.post("/v2/models/yolov3-tiny/infer", json=V2_BODY),
        }
        limiter = app.state.limits.detects
        assert limiter.try_acquire()  # someone else's request is running
        for name, call in calls.items():
            response = await call()
            assert response.status_code == 503, (name, response.text)
            assert response.headers["retry-after"] == "1"
            if name == "v2":
                assert "in flight" in response.json()["error"]
            else:
                assert_error(response, 503, "overloaded")
        limiter.release()
        assert (await calls["detect"]()).status_code == 200
        assert (await calls["batch"]()).status_code == 200
        assert (await calls["v2"]()).status_code == 400  # served: the tensor is wrong
        assert limiter.held == 0


# --- cameras ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cameras_over_the_limit_are_refused_with_409(settings: Settings):
    async with serve(derive(settings, max_cameras=2)) as (_, http):
        for name in ("a", "b"):
            body = {"name": name, "uri": "demo://", "enabled": False}
            assert (await http.post("/v1/cameras", json=body)).status_code == 201
        third = await http.post("/v1/cameras", json={"name": "c", "uri": "demo://"})
        body = assert_error(third, 409, "conflict")
        assert "APPLIANCE_MAX_CAMERAS" in body["error"]["message"]
        assert len((await http.get("/v1/cameras")).json()["cameras"]) == 2
        assert (await http.delete("/v1/cameras/a")).status_code == 204
        again = {"name": "c", "uri": "demo://", "enabled": False}
        assert (await http.post("/v1/cameras", json=again)).status_code == 201


# --- WebSocket messages -------------------------------------------------------------------


def test_oversized_ws_message_gets_an_error_and_1009(settings: Settings, scene: Scene):
    """A frame over max_ws_message_mb is answered with payload_too_large, then the socket
    closes with 1009 (message too big); a frame under it is served."""
    jpeg = scene.jpeg()
    limit_mb = (len(jpeg) - 1000) / 2**20
    with ws_client(derive(settings, max_ws_message_mb=limit_mb)) as client:
        with client.websocket_connect("/v1/detect/ws") as ws:
            ws.send_bytes(jpeg)
            error = ws.receive_json()
            assert error["error"]["code"] == "payload_too_large"
            assert "APPLIANCE_MAX_WS_MESSAGE_MB" in error["error"]["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 1009
        with client.websocket_connect("/v1/detect/ws") as ws:
            ws.send_bytes(jpeg[: len(jpeg) // 4])  # small enough: answered (invalid image)
            assert ws.receive_json()["error"]["code"] == "invalid_image"


def test_frames_over_the_ws_rate_are_dropped_unread(settings: Settings, scene: Scene):
    """max_ws_fps=2: of 20 frames sent at once, at most a burst of 2 is looked at; the rest
    are counted as dropped, and the socket keeps serving at the allowed rate."""
    jpeg = scene.jpeg()
    settings = derive(settings, max_ws_fps=2)
    with ws_client(settings) as client, client.websocket_connect("/v1/detect/ws") as ws:
        for _ in range(20):
            ws.send_bytes(jpeg)
        time.sleep(0.6)  # one more token
        ws.send_bytes(jpeg)
        replies = []
        while not replies or replies[-1]["seq"] != 21:
            replies.append(ws.receive_json())
        assert len(replies) <= 3
        assert all("error" not in r for r in replies)
        assert replies[-1]["dropped"] >= 18


# --- viewers and WebSocket size over a real server ---------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "APPLIANCE_MAX_VIEWERS_PER_CAMERA": "2",
        "APPLIANCE_MAX_WS_MESSAGE_MB": "0.05",
        "APPLIANCE_AUTH": "0",
    }
    demo = {"id": "demo", "name": "Demo", "uri": "demo://?fps=5&width=320&height=180"}
    with start_server(tmp_path_factory.mktemp("limits"), [demo], env=env) as server:
        yield server


async def _until_status(http: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    with anyio.fail_after(10):
        while (response := await http.get(path)).status_code != status:
            await anyio.sleep(0.1)
    return response


@pytest.mark.anyio
async def test_viewers_over_the_limit_get_503_or_1013(limited: Server) -> None:
    """Two places: an MJPEG stream and a WebSocket take them; a snapshot, another stream
    and another WebSocket are refused (503 too_many_viewers with Retry-After; 1013 with the
    reason on the socket) until a viewer leaves."""
    ws_url = f"{limited.ws_url}/v1/cameras/demo/ws?video=0"
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as http:
        async with http.stream("GET", "/v1/cameras/demo/stream.mjpg") as stream:
            assert stream.status_code == 200
            async with websockets.connect(ws_url) as watcher:
                json.loads(await asyncio.wait_for(watcher.recv(), 10))  # it is served
                snapshot = await http.get("/v1/cameras/demo/snapshot.jpg")
                body = assert_error(snapshot, 503, "too_many_viewers")
                assert "APPLIANCE_MAX_VIEWERS_PER_CAMERA" in body["error"]["message"]
                assert int(snapshot.headers["retry-after"]) >= 1
                another = await http.get("/v1/cameras/demo/stream.mjpg")
                assert_error(another, 503, "too_many_viewers")
                async with websockets.connect(ws_url) as refused:
                    error = json.loads(await asyncio.wait_for(refused.recv(), 10))
                    assert error["error"]["code"] == "too_many_viewers"
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(refused.recv(), 10)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        # the stream left: its place is free again (once the server noticed)
        ok = await _until_status(http, "/v1/cameras/demo/snapshot.jpg", 200)
        assert ok.headers["content-type"] == "image/jpeg"
        mjpeg = "/v1/cameras/demo/stream.mjpg"
        async with http.stream("GET", mjpeg) as a, http.stream("GET", mjpeg) as b:
            assert (a.status_code, b.status_code) == (200, 200)


@pytest.mark.anyio
async def test_uvicorn_closes_an_oversized_ws_message_with_1009(limited: Server, scene):
    """Over real uvicorn the message limit holds before the app sees the bytes."""
    async with websockets.connect(f"{limited.ws_url}/v1/detect/ws") as ws:
        await ws.send(b"\xff" * 100_000)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_limits_are_documented() -> None:
    """Each limit setting appears in the README's configuration table."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in (
        "MAX_UPLOAD_MB",
        "MAX_IMAGE_PIXELS",
        "MAX_CONCURRENT_DETECTS",
        "MAX_WS_MESSAGE_MB",
        "MAX_WS_FPS",
        "MAX_JSON_KB",
        "MAX_CAMERAS",
        "MAX_VIEWERS_PER_CAMERA",
        "MEDIA_DIRS",
    ):
        assert f"`APPLIANCE_{name}`" in readme, name
