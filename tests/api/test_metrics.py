"""GET /metrics: Prometheus text with HTTP, camera, frame-stage and inference metrics."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from helpers import Scene, write_clip
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.anyio
async def test_metrics_cover_requests_cameras_and_inference(
    client: httpx.AsyncClient, scene: Scene, tmp_path: Path
) -> None:
    clip = write_clip(tmp_path / "clip.avi")
    await client.post("/v1/detect", content=scene.jpeg(), headers={"content-type": "image/jpeg"})
    await client.post("/v1/cameras", json={"id": "door", "name": "Door", "uri": f"file://{clip}"})
    await client.get("/v1/cameras/door")
    await client.get("/no/such/path")
    with anyio.fail_after(20):
        while (await client.get("/v1/cameras/door")).json()["status"]["fps_out"] <= 0:
            await anyio.sleep(0.1)
    await anyio.sleep(1)

    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert (
        value("appliance_http_requests_total", method="POST", route="/v1/detect", status="200") == 1
    )
    # route templates, not raw paths: label values stay bounded
    assert (
        value(
            "appliance_http_requests_total",
            method="GET",
            route="/v1/cameras/{camera_id}",
            status="200",
        )
        >= 2
    )
    assert (
        value("appliance_http_requests_total", method="GET", route="unmatched", status="404") == 1
    )
    assert not any("door" in dict(labels).get("route", "") for _, labels in got)
    assert value("appliance_inference_seconds_count", model="yolov3-tiny") == 1
    assert value("appliance_camera_state", camera="door", state="streaming") == 1
    assert value("appliance_camera_state", camera="door", state="stopped") == 0
    assert value("appliance_camera_fps_in", camera="door") > 5
    assert value("appliance_camera_reconnects_total", camera="door") == 0
    assert value("appliance_frame_stage_seconds_count", camera="door", stage="infer") > 5
    assert value("appliance_frame_stage_seconds_count", camera="door", stage="queue") > 5


@pytest.mark.anyio
async def test_device_telemetry_in_metrics_and_system(client: httpx.AsyncClient) -> None:
    """The app samples this machine: /v1/system and /metrics show the same live numbers."""
    with anyio.fail_after(10):
        while (await client.get("/v1/system")).json()["snapshot"] is None:
            await anyio.sleep(0.1)
    system = (await client.get("/v1/system")).json()
    assert system["versions"]["onnxruntime"] and system["snapshot"]["memory_total_mb"] > 0
    assert {s["name"]: s["state"] for s in system["sources"]}["psutil"] == "active"
    got = samples((await client.get("/metrics")).text)
    cores = [labels for name, labels in got if name == "appliance_cpu_percent"]
    assert len(cores) == len(system["snapshot"]["cpu_percent"]) > 0
    memory = got[("appliance_memory_total_bytes", frozenset())]
    assert memory == pytest.approx(system["snapshot"]["memory_total_mb"] * 2**20, rel=1e-4)
