"""/v1/jobs on the real app: builds with progress on WS /v1/events, serving during a build,
error bodies, metrics, and a restart on the same data dir that finds the build cached."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import assert_error, compose_scene, wait_ready
from starlette.testclient import TestClient

from appliance.app import create_app
from appliance.engines.platform import probe_platform
from appliance.models.demo import DEMO_MODEL_NAME
from appliance.settings import Settings

MODEL = DEMO_MODEL_NAME
FINISHED = {"succeeded", "failed", "cancelled"}


async def finish(http: httpx.AsyncClient, job_id: str, timeout_s: float = 120) -> dict:
    with anyio.fail_after(timeout_s):
        while True:
            job = (await http.get(f"/v1/jobs/{job_id}")).json()
            if job["state"] in FINISHED:
                return job
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_build_job_runs_while_detection_goes_on(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/jobs", json={"model": MODEL, "kind": "onnxruntime"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["state"], job["precision"], job["progress"]) == ("queued", "fp32", 0.0)

    image = compose_scene().jpeg()
    served_while_running = 0
    while (await client.get(f"/v1/jobs/{job['id']}")).json()["state"] not in FINISHED:
        detect = await client.post(
            "/v1/detect", content=image, headers={"content-type": "image/jpeg"}
        )
        assert detect.status_code == 200  # serving goes on beside the build
        served_while_running += 1
    assert served_while_running >= 1

    done = await finish(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["progress"] == 1.0 and not done["cached"] and done["artifact"].endswith(".onnx")
    assert done["result"]["check"]["relative_error"] <= 1e-3
    listed = (await client.get("/v1/jobs")).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["state"] == "succeeded"

    metrics = (await client.get("/metrics")).text
    assert 'appliance_jobs{state="succeeded"} 1.0' in metrics
    assert 'appliance_job_build_seconds_count{kind="onnxruntime"} 1.0' in metrics
    assert (
        'appliance_jobs_finished_total{cached="false",kind="onnxruntime",state="succeeded"} 1.0'
        in metrics
    )


def test_job_progress_arrives_on_the_events_socket(settings: Settings) -> None:
    with TestClient(create_app(settings)) as http:
        deadline = time.monotonic() + 60
        while http.get("/readyz").status_code != 200:  # the demo model is registered by then
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        response = http.post("/v1/jobs", json={"model": MODEL, "kind": "onnxruntime"})
        assert response.status_code == 202, response.text
        job = response.json()
        deadline += 120
        with http.websocket_connect("/v1/events") as socket:
            seen: list[dict] = []
            while not seen or seen[-1]["state"] not in FINISHED:
                assert time.monotonic() < deadline, seen
                event = json.loads(socket.receive_text())
                if event["type"] == "job" and event["job"]["id"] == job["id"]:
                    seen.append(event["job"])
    states = [e["state"] for e in seen]
    assert states[0] == "queued" and "running" in states and states[-1] == "succeeded"
    progress = [e["progress"] for e in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0


@pytest.mark.anyio
async def test_a_restart_on_the_same_data_dir_finds_the_build(settings: Settings) -> None:
    settings = settings.model_copy(update={"engine": "onnxruntime"})  # what this build serves
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
            await wait_ready(http)
            body = {"model": MODEL, "kind": "onnxruntime"}
            built = await finish(http, (await http.post("/v1/jobs", json=body)).json()["id"])
    assert built["state"] == "succeeded" and not built["cached"]

    restarted = create_app(settings)  # a new process on the same data dir
    async with LifespanManager(restarted, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
            await wait_ready(http)
            model = (await http.get(f"/v1/models/{MODEL}")).json()
            assert model["backend"] == "onnxruntime" and model["loaded"]
            assert "optimised graph from the cache" in model["engine_note"]
            assert (await http.get("/v1/jobs")).json() == {"jobs": []}
            hit = await finish(http, (await http.post("/v1/jobs", json=body)).json()["id"])
            assert hit["state"] == "succeeded" and hit["cached"]
            assert (hit["cache_key"], hit["artifact"]) == (built["cache_key"], built["artifact"])
            metrics = (await http.get("/metrics")).text
            assert "appliance_job_build_seconds_count" not in metrics  # nothing was built


@pytest.mark.anyio
async def test_cancelling_jobs(client: httpx.AsyncClient) -> None:
    job = (await client.post("/v1/jobs", json={"model": MODEL, "kind": "onnxruntime"})).json()
    cancelled = await client.delete(f"/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200
    # queued: cancelled at once; already running: asked, and it stops at its next step
    assert cancelled.json()["state"] == "cancelled" or cancelled.json()["cancel_requested"]
    done = await finish(client, job["id"])
    assert done["state"] in {"cancelled", "succeeded"}  # a build may beat the request
    again = await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert_error(again, 409, "conflict")


@pytest.mark.anyio
async def test_job_errors_take_the_standard_body(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/jobs/nope"), 404, "job_not_found")
    assert_error(await client.delete("/v1/jobs/nope"), 404, "job_not_found")
    missing = {"model": "nope", "kind": "onnxruntime"}
    assert_error(await client.post("/v1/jobs", json=missing), 404, "model_not_found")
    bad_kind = {"model": MODEL, "kind": "coreml"}
    assert_error(await client.post("/v1/jobs", json=bad_kind), 422, "validation_error")
    bad_batch = {"model": MODEL, "kind": "onnxruntime", "max_batch": 0}
    assert_error(await client.post("/v1/jobs", json=bad_batch), 422, "validation_error")
    fp16 = {"model": MODEL, "kind": "onnxruntime", "precision": "fp16"}
    assert_error(await client.post("/v1/jobs", json=fp16), 422, "invalid_input")
    if not probe_platform().can_run_tensorrt:
        refused = await client.post("/v1/jobs", json={"model": MODEL, "kind": "tensorrt"})
        body = assert_error(refused, 422, "backend_unavailable")
        assert "TensorRT" in body["error"]["message"]
    assert (await client.get("/v1/jobs")).json() == {"jobs": []}  # nothing was queued


@pytest.mark.anyio
async def test_models_say_which_engine_serves_them(client: httpx.AsyncClient) -> None:
    model = (await client.get(f"/v1/models/{MODEL}")).json()
    if probe_platform().can_run_tensorrt:
        pytest.skip("this machine has TensorRT: auto's choice differs")
    here = probe_platform()
    if here.openvino is not None and here.machine == "x86_64":  # auto's CPU choice there
        assert (model["backend"], model["device"]) == ("openvino", "CPU")
        assert model["precision"] in {"fp32", "bf16"}  # bf16 where the CPU computes in it
        assert model["engine_note"].startswith(f"OpenVINO {here.openvino} on CPU (")
    else:
        assert (model["backend"], model["device"], model["precision"]) == (
            "onnxruntime",
            "CPU",
            "fp32",
        )
        assert model["engine_note"].startswith("ONNX Runtime on CPU (no TensorRT installed")
