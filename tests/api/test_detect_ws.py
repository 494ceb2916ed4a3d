"""WS /v1/detect/ws through Starlette's TestClient, on a real app with the demo model."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from helpers import Scene, assert_finds_scene
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from appliance.app import create_app
from appliance.settings import Settings

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2 over httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

WS = "/v1/detect/ws"


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def testclient(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient on the real app, its lifespan running and its models warm."""
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "models never became ready"
            time.sleep(0.05)
        yield client


def test_frame_gets_a_detect_result(testclient: TestClient, scene: Scene):
    """A binary JPEG frame is answered with the REST detect body plus seq=1 and dropped=0."""
    with testclient.websocket_connect(WS) as ws:
        ws.send_bytes(scene.jpeg())
        reply = ws.receive_json()
    assert set(reply) == {"model", "image", "detections", "timings", "seq", "dropped"}
    assert (reply["seq"], reply["dropped"]) == (1, 0)
    assert reply["model"]["name"] == "yolov3-tiny"
    assert reply["image"] == {"width": 1280, "height": 720}
    assert reply["timings"]["infer_ms"] > 0
    assert_finds_scene(reply, scene.where)


def test_ws_matches_rest(testclient: TestClient, scene: Scene):
    """A frame gives the same detections over the WebSocket as the same bytes over REST, and
    query parameters apply the same way."""
    data = scene.png()
    query = "?conf=0.5&classes=person,41"
    rest = testclient.post(
        f"/v1/detect{query}", content=data, headers={"content-type": "image/png"}
    )
    with testclient.websocket_connect(WS + query) as ws:
        ws.send_bytes(data)
        reply = ws.receive_json()
    assert reply["detections"] == rest.json()["detections"]
    assert {d["label"] for d in reply["detections"]} == {"person", "cup"}
    assert all(d["confidence"] >= 0.5 for d in reply["detections"])


def test_text_message_gets_an_error_and_the_socket_stays_open(testclient: TestClient, scene: Scene):
    """A text message is answered with invalid_input plus its seq; the next frame is served."""
    with testclient.websocket_connect(WS, headers={"x-request-id": "ws-text"}) as ws:
        ws.send_text("hello")
        error = ws.receive_json()
        ws.send_bytes(scene.jpeg())
        reply = ws.receive_json()
    assert set(error) == {"error", "seq", "dropped"}
    assert error["error"]["code"] == "invalid_input"
    assert error["error"]["message"]
    assert error["error"]["request_id"] == "ws-text"
    assert (error["seq"], error["dropped"]) == (1, 0)
    assert reply["seq"] == 2
    assert_finds_scene(reply, scene.where)


@pytest.mark.parametrize(
    "frame", [b"not an image", b"\xff\xd8\xff" + b"\x00" * 500], ids=["text-bytes", "bad-jpeg"]
)
def test_undecodable_frame_gets_an_error(testclient: TestClient, scene: Scene, frame: bytes):
    """A binary frame that is not an image gets invalid_image with its seq; the socket stays
    open and the next frame gets a result."""
    with testclient.websocket_connect(WS) as ws:
        ws.send_bytes(frame)
        error = ws.receive_json()
        ws.send_bytes(scene.jpeg())
        reply = ws.receive_json()
    assert error["error"]["code"] == "invalid_image"
    assert error["seq"] == 1
    assert "detections" not in error
    assert reply["seq"] == 2
    assert {"person", "cat", "cup"} <= {d["label"] for d in reply["detections"]}


def test_fast_sender_gets_only_the_newest_frames(testclient: TestClient, scene: Scene):
    """20 frames sent back-to-back are not queued: fewer than 20 replies, seq strictly
    increasing, the newest frame (20) always answered, and dropped counting the rest."""
    data = scene.jpeg()
    replies = []
    with testclient.websocket_connect(WS + "?classes=cat") as ws:
        for _ in range(20):
            ws.send_bytes(data)
        while not replies or replies[-1]["seq"] < 20:
            replies.append(ws.receive_json())
    seqs = [r["seq"] for r in replies]
    assert len(replies) < 20
    assert seqs == sorted(set(seqs))
    assert seqs[-1] == 20
    assert replies[-1]["dropped"] == 20 - len(replies) > 0
    assert [r["dropped"] for r in replies] == sorted(r["dropped"] for r in replies)
    assert all({d["label"] for d in r["detections"]} == {"cat"} for r in replies)


def test_frames_are_recorded(app: FastAPI, testclient: TestClient, scene: Scene):
    """Each answered frame is counted by the recorder; error replies are not."""
    before = app.state.services.recorder.stats()
    with testclient.websocket_connect(WS) as ws:
        for frame in (scene.jpeg(), b"junk", scene.jpeg()):
            ws.send_bytes(frame)
            ws.receive_json()
    after = app.state.services.recorder.stats()
    assert after.requests - before.requests == 2
    assert after.images - before.images == 2


def test_unknown_model_with_classes_is_refused_on_connect(testclient: TestClient):
    """model=<unknown> (with a class filter) is answered with a model_not_found error body,
    then the server closes with 1008."""
    with testclient.websocket_connect(WS + "?model=nope&classes=cat") as ws:
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert set(error) == {"error"}
    assert error["error"]["code"] == "model_not_found"
    assert closed.value.code == 1008


def test_unknown_model_is_refused_on_connect(testclient: TestClient, scene: Scene):
    """model=<unknown> is answered on connect with a model_not_found error body (no seq: it
    answers no frame), then the server closes with 1008."""
    with testclient.websocket_connect(WS + "?model=nope") as ws:
        ws.send_bytes(scene.jpeg())  # after a close this is ignored; before the fix it is a frame
        error = ws.receive_json()
        assert set(error) == {"error"}, error
        assert error["error"]["code"] == "model_not_found"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008


def test_invalid_query_closes_with_1008(testclient: TestClient):
    """An out-of-range query parameter closes the socket with 1008 before any frame."""
    with pytest.raises(WebSocketDisconnect) as closed, testclient.websocket_connect(WS + "?conf=5"):
        pass
    assert closed.value.code == 1008
