"""Probes, request ids, Server-Timing, the access log, background recording, and a responsive
event loop while detections run."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from helpers import Scene, assert_error, wait_ready
from loguru import logger

from appliance.app import create_app
from appliance.settings import Settings

pytestmark = pytest.mark.anyio

JPEG = {"content-type": "image/jpeg"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
STAGES = ["decode", "preprocess", "infer", "postprocess"]


@asynccontextmanager
async def serve(
    settings: Settings, *, ready: bool = True
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app built from `settings` (to reach app.state.services) and a client on it."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as http:
            if ready:
                await wait_ready(http)
            yield app, http


@pytest.fixture
def access_log() -> Iterator[list[dict]]:
    """The records of access-log lines written while the test runs (a real loguru sink)."""
    records: list[dict] = []
    sink = logger.add(
        lambda message: records.append(message.record),
        filter=lambda record: record["extra"].get("event") == "access",
        level="INFO",
    )
    yield records
    logger.remove(sink)


def server_timing(response: httpx.Response) -> dict[str, float]:
    entries = {}
    for part in response.headers["server-timing"].split(","):
        name, dur = part.strip().split(";")
        assert dur.startswith("dur=")
        entries[name] = float(dur.removeprefix("dur="))
    return entries


# --- probes -------------------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient):
    """/healthz answers 200 {"status": "ok"}."""
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_describes_the_loaded_model(client: httpx.AsyncClient):
    """/readyz, once ready, lists the demo model with its version, backend, input and labels."""
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    [model] = body["models"]
    assert set(model) == {
        "name", "version", "backend", "device", "precision", "input_size", "labels", "warmup_ms"
    }  # fmt: skip
    assert model["name"] == "yolov3-tiny"
    assert re.fullmatch(r"[0-9a-f]{12}", model["version"])
    assert model["backend"] in {"onnxruntime", "openvino"}  # engine auto: openvino on x86_64
    assert model["precision"] in {"fp32", "bf16"}
    assert model["device"]
    assert model["input_size"] == [416, 416]
    assert model["labels"] == 80
    assert model["warmup_ms"] > 0


async def test_healthz_answers_while_models_load(settings: Settings):
    """Right after start-up /healthz is 200 while /readyz is 503 not_ready with Retry-After,
    and /readyz turns 200 once the model is warm. (Skipped if loading beat the first probe.)"""
    async with serve(settings, ready=False) as (_, http):
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        if ready.status_code == 200:
            pytest.skip("the model was ready before the first probe")
        body = assert_error(ready, 503, "not_ready")
        assert ready.headers["retry-after"] == "1"
        assert "loading" in body["error"]["message"]
        await wait_ready(http)
        assert (await http.get("/readyz")).json()["status"] == "ready"


async def test_model_that_fails_to_load(settings: Settings, tmp_path: Path):
    """A garbage .onnx file does not stop the service: /healthz stays 200 and /readyz says
    503 not_ready, naming the file and the failure, without a Retry-After."""
    broken = tmp_path / "garbage.onnx"
    broken.write_bytes(bytes(range(256)) * 20)
    broken_settings = Settings(**{**settings.model_dump(), "models": [str(broken)]})
    async with serve(broken_settings, ready=False) as (app, http):
        with anyio.fail_after(30):
            while (response := await http.get("/readyz")).headers.get("retry-after"):
                await anyio.sleep(0.05)
        body = assert_error(response, 503, "not_ready")
        assert "failed to load" in body["error"]["message"]
        assert "garbage.onnx" in body["error"]["message"]
        assert app.state.services.detection.readiness.state.value == "failed"
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}


# --- request id ---------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123", "cam_7.frame:42", "x" * 128])
async def test_sane_request_id_is_echoed(client: httpx.AsyncClient, given: str):
    """A caller's sane X-Request-ID (up to 128 token characters) comes back unchanged."""
    response = await client.get("/healthz", headers={"x-request-id": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 129, "x" * 200, "a/b", "é"])
async def test_missing_or_invalid_request_id_is_replaced(client: httpx.AsyncClient, given):
    """Without a sane X-Request-ID the response carries a fresh 32-hex-digit one."""
    headers = {"x-request-id": given.encode()} if given is not None else {}
    response = await client.get("/healthz", headers=headers)
    assert HEX32.match(response.headers["x-request-id"]), response.headers["x-request-id"]


async def test_generated_request_ids_are_unique(client: httpx.AsyncClient):
    """Each request without an id gets a different one."""
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


async def test_request_id_on_detect_and_errors(client: httpx.AsyncClient, scene: Scene):
    """Successful detects and error responses both carry the caller's request id."""
    ok = await client.post(
        "/v1/detect", content=scene.jpeg(), headers={**JPEG, "x-request-id": "det-1"}
    )
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == "det-1"
    missing = await client.get("/missing", headers={"x-request-id": "det-2"})
    assert assert_error(missing, 404, "not_found")["error"]["request_id"] == "det-2"


# --- Server-Timing ------------------------------------------------------------------------


async def test_server_timing_on_detect(client: httpx.AsyncClient, scene: Scene):
    """A detect's Server-Timing has decode, preprocess, infer, postprocess and total entries;
    the stages match the body's timings and fit within the total."""
    response = await client.post("/v1/detect", content=scene.jpeg(), headers=JPEG)
    assert response.status_code == 200
    timing = server_timing(response)
    assert list(timing) == [*STAGES, "total"]
    body = response.json()["timings"]
    for stage in STAGES:
        assert timing[stage] == pytest.approx(body[f"{stage}_ms"], abs=0.006)
    assert timing["infer"] > 0
    assert sum(timing[s] for s in STAGES) <= timing["total"]


async def test_server_timing_on_annotated_detect(client: httpx.AsyncClient, scene: Scene):
    """format=jpeg responses carry the same Server-Timing stages."""
    response = await client.post("/v1/detect?format=jpeg", content=scene.jpeg(), headers=JPEG)
    assert response.status_code == 200
    assert list(server_timing(response)) == [*STAGES, "total"]


async def test_server_timing_on_batch_sums_images(client: httpx.AsyncClient, scene: Scene):
    """A batch's Server-Timing stages are the sums over its images."""
    files = [("images", (f"{i}.jpg", scene.jpeg(), "image/jpeg")) for i in range(3)]
    response = await client.post("/v1/detect/batch", files=files)
    assert response.status_code == 200
    timing = server_timing(response)
    results = response.json()["results"]
    for stage in STAGES:
        total = sum(r["timings"][f"{stage}_ms"] for r in results)
        assert timing[stage] == pytest.approx(total, abs=0.02)
    assert sum(timing[s] for s in STAGES) <= timing["total"]


async def test_server_timing_without_stages(client: httpx.AsyncClient):
    """Routes that run no detection report only the total."""
    for response in (await client.get("/healthz"), await client.get("/nope")):
        timing = server_timing(response)
        assert list(timing) == ["total"]
        assert timing["total"] >= 0


# --- access log ---------------------------------------------------------------------------


async def test_access_log_line_per_request(client: httpx.AsyncClient, access_log: list[dict]):
    """Each request writes one access-log line carrying its request id, method, path and status."""
    await client.get("/healthz", headers={"x-request-id": "log-ok"})
    await client.get("/nope", headers={"x-request-id": "log-404"})
    by_id = {r["extra"]["request_id"]: r for r in access_log}
    assert by_id["log-ok"]["extra"]["status"] == 200
    assert '"GET /healthz" 200' in by_id["log-ok"]["message"]
    assert by_id["log-404"]["extra"]["status"] == 404
    assert [r["extra"]["request_id"] for r in access_log].count("log-ok") == 1


# --- background recording ----------------------------------------------------------------


async def test_detects_are_recorded_in_the_background(settings: Settings, scene: Scene):
    """The recorder counts each successful detect request, its images and labels (JSON, JPEG
    and batch responses), and not failed requests."""
    async with serve(settings) as (app, http):
        recorder = app.state.services.recorder
        assert recorder.stats().requests == 0

        one = await http.post("/v1/detect", content=scene.jpeg(), headers=JPEG)
        found: dict[str, int] = {}
        for d in one.json()["detections"]:
            found[d["label"]] = found.get(d["label"], 0) + 1
        stats = recorder.stats()
        assert (stats.requests, stats.images) == (1, 1)
        assert stats.detections_by_label == found
        assert {"person", "cat", "cup"} <= set(found)

        drawn = await http.post("/v1/detect?format=jpeg", content=scene.jpeg(), headers=JPEG)
        assert drawn.status_code == 200
        files = [("images", (f"{i}.jpg", scene.jpeg(), "image/jpeg")) for i in range(2)]
        assert (await http.post("/v1/detect/batch", files=files)).status_code == 200
        bad = await http.post("/v1/detect", content=b"junk", headers=JPEG)
        assert bad.status_code == 422

        stats = recorder.stats()
        assert (stats.requests, stats.images) == (3, 4)
        assert stats.detections_by_label["cat"] == 4 * found["cat"]


# --- the event loop stays free ------------------------------------------------------------


async def test_healthz_is_fast_while_detects_run(client: httpx.AsyncClient, scene: Scene):
    """While 8 detect requests are kept in flight, /healthz still answers within 50 ms
    (median): inference runs off the event loop. The probe is submitted from another thread,
    like an outside client, so a busy loop would delay it. (The e2e test does the same over
    real sockets.)"""
    data = scene.jpeg()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    in_flight = 0
    answered: list[int] = []

    async def keep_detecting() -> None:
        nonlocal in_flight
        while not stop.is_set():
            in_flight += 1
            try:
                response = await client.post("/v1/detect", content=data, headers=JPEG)
            finally:
                in_flight -= 1
            answered.append(response.status_code)

    def probe() -> list[float]:
        latencies = []
        for _ in range(7):
            assert in_flight == 8
            start = time.perf_counter()
            health = asyncio.run_coroutine_threadsafe(client.get("/healthz"), loop).result(30)
            latencies.append((time.perf_counter() - start) * 1000)
            assert health.status_code == 200
            time.sleep(0.15)  # probes over a second: requests finish in batches
        return latencies

    workers = [asyncio.create_task(keep_detecting()) for _ in range(8)]
    try:
        with anyio.fail_after(30):
            while len(answered) < 8:  # every worker has had a turn: the service is busy
                await asyncio.sleep(0.01)
        done_before = len(answered)
        latencies = await anyio.to_thread.run_sync(probe)
        progress = len(answered) - done_before
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert set(answered) == {200}
    assert progress >= 2, "detects did not progress while /healthz was measured"
    assert statistics.median(latencies) < 50, [round(ms, 1) for ms in latencies]
