"""The real thing: `python -m appliance serve` in a subprocess, over loopback HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets
from helpers import Scene, Server, assert_finds_scene, start_server

JPEG = {"content-type": "image/jpeg"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@dataclass
class Stopped:
    returncode: int
    seconds: float
    log: str


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Stopped:
    """A server that answered one request, then was sent SIGTERM."""
    with start_server(tmp_path_factory.mktemp("e2e-stop")) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            returncode = server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 15 s after SIGTERM:\n{server.log_text()}")
        return Stopped(returncode, time.monotonic() - start, server.log_text())


@pytest.mark.anyio
async def test_detect_over_http(server: Server, scene: Scene):
    """A JPEG POSTed over a real socket finds the person, the cat and the cup in place."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/v1/detect", content=scene.jpeg(), headers=JPEG)
        batch = await http.post(
            "/v1/detect/batch",
            files=[("images", (f"{i}.jpg", scene.jpeg(), "image/jpeg")) for i in range(2)],
        )
    assert response.status_code == 200, response.text
    assert response.json()["model"]["name"] == "yolov3-tiny"
    assert response.json()["image"] == {"width": 1280, "height": 720}
    assert_finds_scene(response.json(), scene.where)
    assert batch.status_code == 200, batch.text
    single = [(d["label"], d["confidence"]) for d in response.json()["detections"]]
    for result in batch.json()["results"]:  # one batched inference: equal up to rounding
        pairs = [(d["label"], d["confidence"]) for d in result["detections"]]
        assert [label for label, _ in pairs] == [label for label, _ in single]
        assert [c for _, c in pairs] == pytest.approx([c for _, c in single], abs=2e-3)


@pytest.mark.anyio
async def test_websocket_over_a_real_socket(server: Server, scene: Scene):
    """A real WebSocket client gets a result per frame and an error for a bad frame."""
    uri = f"ws://127.0.0.1:{server.port}/v1/detect/ws?conf=0.3"
    async with websockets.connect(uri) as ws:
        await ws.send(scene.jpeg())
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.send(b"not an image")
        error = json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.send(scene.png())
        second = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert (first["seq"], first["dropped"]) == (1, 0)
    assert_finds_scene(first, scene.where)
    assert all(d["confidence"] >= 0.3 for d in first["detections"])
    assert error["error"]["code"] == "invalid_image"
    assert error["seq"] == 2
    assert second["seq"] == 3
    assert_finds_scene(second, scene.where)


@pytest.mark.anyio
async def test_healthz_is_fast_while_detects_are_in_flight(server: Server, scene: Scene):
    """While 8 clients keep detect requests in flight on their own connections, /healthz on
    another connection still answers within 50 ms (median): inference is off the event loop."""
    data = scene.jpeg()
    stop = asyncio.Event()
    in_flight = 0
    answered: list[int] = []

    async def keep_detecting(http: httpx.AsyncClient) -> None:
        nonlocal in_flight
        while not stop.is_set():
            in_flight += 1
            try:
                response = await http.post("/v1/detect", content=data, headers=JPEG)
            finally:
                in_flight -= 1
            answered.append(response.status_code)

    clients = [httpx.AsyncClient(base_url=server.url, timeout=60) for _ in range(8)]
    try:
        async with httpx.AsyncClient(base_url=server.url) as probe:
            await probe.get("/healthz")  # connect before measuring
            workers = [asyncio.create_task(keep_detecting(c)) for c in clients]
            while len(answered) < 8:  # the service is busy: every worker got an answer once
                await asyncio.sleep(0.01)
            latencies, done_before = [], len(answered)
            for _ in range(9):
                assert in_flight == 8
                start = time.perf_counter()
                response = await probe.get("/healthz")
                latencies.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
                await asyncio.sleep(0.15)  # over a second: requests finish in batches
            progress = len(answered) - done_before
            stop.set()
            await asyncio.gather(*workers)
    finally:
        for client in clients:
            await client.aclose()
    assert set(answered) == {200}
    assert progress >= 2, "detects did not progress while /healthz was measured"
    assert statistics.median(latencies) < 50, [round(ms, 1) for ms in latencies]


@pytest.mark.anyio
async def test_docs_and_openapi(server: Server):
    """/docs serves the Swagger UI page (with its assets locally) and /openapi.json lists the
    detect routes."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        docs = await http.get("/docs")
        spec = await http.get("/openapi.json")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger" in docs.text.lower()
        assert spec.status_code == 200
        assert {"/v1/detect", "/v1/detect/batch"} <= set(spec.json()["paths"])
        assert "post" in spec.json()["paths"]["/v1/detect"]


def test_access_log_lines_carry_request_ids(server: Server, scene: Scene):
    """The server's log has an access line per request, with the request's id."""
    response = httpx.post(
        f"{server.url}/v1/detect",
        content=scene.jpeg(),
        headers={**JPEG, "x-request-id": "e2e-access-7"},
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in server.log_text().splitlines() if "e2e-access-7" in line]
        access = [line for line in lines if '"POST /v1/detect" 200' in line]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(access) == 1, lines
    assert "127.0.0.1:" in access[0]


def test_sigterm_stops_gracefully(stopped: Stopped):
    """SIGTERM makes the server finish its lifespan and exit within 15 s."""
    assert stopped.seconds < 15
    assert "Application shutdown complete" in stopped.log
    assert "Finished server process" in stopped.log
    assert stopped.returncode in (0, -signal.SIGTERM)
