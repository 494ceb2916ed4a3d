"""/v1/cameras over the real app: management, persistence, snapshots, camera WebSocket, events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import cv2
import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from helpers import assert_error, wait_ready, write_clip
from starlette.testclient import TestClient

from appliance.app import create_app
from appliance.config import SCHEMA_VERSION
from appliance.settings import Settings


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "scene.avi", frames=45)


async def wait_state(
    http: httpx.AsyncClient, camera_id: str, state: str, timeout: float = 20
) -> dict:
    with anyio.fail_after(timeout):
        while True:
            body = (await http.get(f"/v1/cameras/{camera_id}")).json()
            if body["status"]["state"] == state:
                return body
            await anyio.sleep(0.1)


@pytest.mark.anyio
async def test_add_watch_change_and_remove_a_camera(client: httpx.AsyncClient, clip: Path) -> None:
    """The whole life of a camera through the API."""
    assert (await client.get("/v1/cameras")).json() == {"cameras": []}
    created = await client.post("/v1/cameras", json={"name": "Front Door", "uri": f"file://{clip}"})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "front-door"
    body = await wait_state(client, "front-door", "streaming")
    assert body["status"]["reconnects"] == 0

    snapshot = await client.get("/v1/cameras/front-door/snapshot.jpg")
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    pixels = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
    assert pixels.shape == (360, 640, 3)

    await anyio.sleep(1.5)
    later = await client.get("/v1/cameras/front-door/snapshot.jpg")
    # nobody watched in between: the snapshot is today's frame, not the last one encoded
    assert int(later.headers["x-frame-id"]) >= int(snapshot.headers["x-frame-id"]) + 10
    body = (await client.get("/v1/cameras/front-door")).json()
    status = body["status"]
    assert 8 <= status["fps_in"] <= 20 and status["fps_out"] > 3
    assert status["frame_age_s"] < 1
    assert {"queue_ms", "preprocess_ms", "infer_ms", "postprocess_ms", "encode_ms"} <= set(
        status["stages"]
    )
    assert status["stages"]["infer_ms"]["p95"] >= status["stages"]["infer_ms"]["p50"] > 0

    patched = await client.patch("/v1/cameras/front-door", json={"conf": 0.6, "fps_limit": 5})
    assert patched.status_code == 200 and patched.json()["conf"] == 0.6
    assert patched.json()["status"]["state"] == "streaming"  # not restarted for a threshold

    stopped = await client.post("/v1/cameras/front-door/stop")
    assert stopped.json()["status"]["state"] == "stopped" and stopped.json()["enabled"] is False
    await client.post("/v1/cameras/front-door/start")
    await wait_state(client, "front-door", "streaming")

    assert (await client.delete("/v1/cameras/front-door")).status_code == 204
    assert_error(await client.get("/v1/cameras/front-door"), 404, "camera_not_found")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "uri": "ftp://host/file"}, 422, "invalid_source"),
        ({"name": "x", "uri": "file:///no/such/file.mp4"}, 422, "invalid_source"),
        ({"name": "x", "uri": "demo://", "model": "nope"}, 404, "model_not_found"),
        ({"name": "x", "uri": "demo://", "classes": ["unicorn"]}, 422, "invalid_input"),
        ({"name": "x", "uri": "demo://", "fps_limit": -1}, 422, "validation_error"),
        ({"name": "x", "uri": "demo://", "colour": "red"}, 422, "validation_error"),
        ({"id": "Bad Id!", "name": "x", "uri": "demo://"}, 422, "validation_error"),
    ],
)
async def test_invalid_cameras_are_refused(
    client: httpx.AsyncClient, body: dict, status: int, code: str
) -> None:
    assert_error(await client.post("/v1/cameras", json=body), status, code)
    assert (await client.get("/v1/cameras")).json() == {"cameras": []}


@pytest.mark.anyio
async def test_duplicate_ids_conflict_and_credentials_are_redacted(
    client: httpx.AsyncClient,
) -> None:
    camera = {
        "id": "gate",
        "name": "Gate",
        "uri": "rtsp://admin:hunter2@127.0.0.1:9/stream",
        "enabled": False,
    }
    created = await client.post("/v1/cameras", json=camera)
    assert created.status_code == 201
    assert (
        "hunter2" not in created.text
        and created.json()["uri"] == "rtsp://admin:***@127.0.0.1:9/stream"
    )
    assert_error(await client.post("/v1/cameras", json=camera), 409, "conflict")
    assert "hunter2" not in (await client.get("/v1/cameras")).text


@pytest.mark.anyio
async def test_cameras_survive_a_restart(settings: Settings, clip: Path) -> None:
    """Cameras are saved in the data dir and come back, running, after a restart."""
    for attempt in range(2):
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
                await wait_ready(http)
                if attempt == 0:
                    await http.post(
                        "/v1/cameras", json={"id": "a", "name": "A", "uri": f"file://{clip}"}
                    )
                    await http.post(
                        "/v1/cameras",
                        json={
                            "id": "b",
                            "name": "B",
                            "uri": "demo://",
                            "enabled": False,
                            "conf": 0.5,
                        },
                    )
                else:
                    cameras = {
                        c["id"]: c for c in (await http.get("/v1/cameras")).json()["cameras"]
                    }
                    assert set(cameras) == {"a", "b"}
                    assert cameras["b"]["conf"] == 0.5 and cameras["b"]["enabled"] is False
                    await wait_state(http, "a", "streaming")
    saved = json.loads((settings.data_dir / "config.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION and len(saved["cameras"]) == 2


def test_first_start_shows_the_demo_camera(tmp_path: Path) -> None:
    """With no saved configuration the demo camera runs, and its frames carry detections;
    its state changes arrive on WS /v1/events."""
    app = create_app(Settings(data_dir=tmp_path, models=["demo"], dashboard=False))
    with TestClient(app) as http, http.websocket_connect("/v1/events") as events:
        first = events.receive_json()
        assert first["type"] == "camera.state" and first["camera"] == "demo"
        with http.websocket_connect("/v1/cameras/demo/ws?video=1") as ws:
            labels: set[str] = set()
            for _ in range(6):
                meta = ws.receive_json()
                jpeg = ws.receive_bytes()
                assert jpeg[:2] == b"\xff\xd8" and meta["camera"] == "demo"
                assert meta["captured_at"] <= time.time()
                assert meta["carried"] or "infer_ms" in meta["timings"]  # (the motion gate)
                labels |= {d["label"] for d in meta["detections"]}
        assert {"person", "cat", "cup"} & labels
        with http.websocket_connect("/v1/cameras/demo/ws?video=0") as ws:
            meta = ws.receive_json()
            assert meta["frame_id"] > 0
            second = ws.receive_json()  # JSON again: no binary frames without video
            assert second["frame_id"] > meta["frame_id"]
