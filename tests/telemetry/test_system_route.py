"""GET /v1/system on a small app that carries a running telemetry service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import anyio
import httpx
import psutil
import pytest
from fastapi import FastAPI
from scripted_sources import ScriptedSource

from appliance.api.errors import install_error_handlers
from appliance.api.routes import system
from appliance.services.events import EventBus
from appliance.services.telemetry import TelemetryService
from appliance.telemetry import GpuSample, Reading
from appliance.telemetry.psutil_source import PsutilSource

pytestmark = pytest.mark.anyio
HOT_GPU = Reading(
    gpus=(GpuSample("NVIDIA L4", load_percent=97.0, temperature_c=91.0, power_w=71.234),),
    power_mode="15W",
    power_modes=("MAXN", "15W"),
)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    telemetry = TelemetryService(
        EventBus(), [ScriptedSource(HOT_GPU), PsutilSource()], interval_s=0.02
    )
    app = FastAPI()
    app.state.services = SimpleNamespace(telemetry=telemetry, mqtt=None)
    install_error_handlers(app)
    app.include_router(system.router)
    await telemetry.start()
    try:
        with anyio.fail_after(5):
            while len(telemetry.history()) < 3:
                await anyio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as client:
            yield client
    finally:
        await asyncio.to_thread(telemetry.close)


async def test_system_snapshot_history_warnings_sources_versions(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/system")
    assert response.status_code == 200
    body = response.json()
    snapshot = body["snapshot"]
    assert len(snapshot["cpu_percent"]) == psutil.cpu_count()
    assert snapshot["memory_total_mb"] > 0
    assert snapshot["gpus"] == [
        {
            "name": "NVIDIA L4",
            "load_percent": 97.0,
            "memory_used_mb": None,
            "memory_total_mb": None,
            "temperature_c": 91.0,
            "power_w": 71.23,
            "frequency_mhz": None,
            "throttle_reasons": [],
        }
    ]
    assert snapshot["power_mode"] == "15W"
    assert len(body["history"]) >= 3 and body["history"][-1]["at"] >= snapshot["at"] - 1
    assert {w["code"] for w in body["warnings"]} == {"thermal_throttling", "low_power_mode"}
    assert [(s["name"], s["state"]) for s in body["sources"]] == [
        ("scripted", "active"),
        ("psutil", "active"),
    ]
    assert body["versions"]["python"] and body["versions"]["onnxruntime"]
    assert body["interval_s"] == 0.02


async def test_history_limits(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/system", params={"minutes": 0})).json()["history"] == []
    thinned = (await http.get("/v1/system", params={"max_points": 2})).json()["history"]
    assert len(thinned) == 2


async def test_bad_query_gets_the_standard_error_body(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/system", params={"minutes": -1})
    assert response.status_code == 422
    assert "error" in response.json()


def test_documented_in_openapi() -> None:
    app = FastAPI()
    app.include_router(system.router)
    operation = app.openapi()["paths"]["/v1/system"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "SystemOut"
    )
    assert "422" in operation["responses"]
