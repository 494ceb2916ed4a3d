"""GET /v1/system: device telemetry (snapshot and history), warnings, sources and versions."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from appliance.api.deps import ServicesDep, TelemetryDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.services.container import Services
from appliance.services.mqtt_bridge import MqttStatus
from appliance.services.telemetry import (
    ActiveWarning,
    Sample,
    SourceStatus,
    Versions,
)

router = APIRouter(prefix="/v1/system", tags=["system"])


class GpuOut(Schema):
    name: str
    load_percent: float | None
    memory_used_mb: float | None = Field(description="On a Jetson: unified RAM the GPU mapped.")
    memory_total_mb: float | None
    temperature_c: float | None
    power_w: float | None
    frequency_mhz: float | None
    throttle_reasons: list[str] = Field(description="NVML clock-event reasons, e.g. sw_thermal.")


class SampleOut(Schema):
    at: float = Field(description="Unix time of the sample.")
    cpu_percent: list[float | None] = Field(description="Load per core; null: core offline.")
    cpu_governor: str | None
    memory_used_mb: float | None = Field(description="Total minus available.")
    memory_total_mb: float | None
    memory_percent: float | None
    swap_used_mb: float | None
    swap_total_mb: float | None
    temperatures: dict[str, float] = Field(description="°C by sensor.")
    gpus: list[GpuOut]
    power_rails_w: dict[str, float] = Field(description="Watts by power rail (Jetson INA3221).")
    power_total_w: float | None
    fan_percent: float | None
    fan_rpm: int | None
    power_mode: str | None = Field(description="Jetson nvpmodel, e.g. MAXN or 15W.")
    power_modes: list[str] = Field(description="Every nvpmodel this board offers.")
    jetson_clocks: bool | None

    @classmethod
    def of(cls, s: Sample) -> SampleOut:
        return cls(
            at=round(s.timestamp, 3),
            cpu_percent=[_round(p) for p in s.cpu_percent],
            cpu_governor=s.cpu_governor,
            memory_used_mb=_round(s.memory_used_mb),
            memory_total_mb=_round(s.memory_total_mb),
            memory_percent=s.memory_percent,
            swap_used_mb=_round(s.swap_used_mb),
            swap_total_mb=_round(s.swap_total_mb),
            temperatures={name: round(t, 1) for name, t in s.temperatures.items()},
            gpus=[
                GpuOut(
                    name=g.name,
                    load_percent=_round(g.load_percent),
                    memory_used_mb=_round(g.memory_used_mb),
                    memory_total_mb=_round(g.memory_total_mb),
                    temperature_c=_round(g.temperature_c),
                    power_w=_round(g.power_w, 2),
                    frequency_mhz=_round(g.frequency_mhz),
                    throttle_reasons=list(g.throttle_reasons),
                )
                for g in s.gpus
            ],
            power_rails_w={name: round(w, 3) for name, w in s.power_rails_w.items()},
            power_total_w=_round(s.power_total_w, 3),
            fan_percent=_round(s.fan_percent),
            fan_rpm=s.fan_rpm,
            power_mode=s.power_mode,
            power_modes=list(s.power_modes),
            jetson_clocks=s.jetson_clocks,
        )


class WarningOut(Schema):
    code: str = Field(description="thermal_throttling, low_power_mode or memory_pressure.")
    message: str
    since: float = Field(description="Unix time the condition started.")

    @classmethod
    def of(cls, w: ActiveWarning) -> WarningOut:
        return cls(code=w.code, message=w.message, since=round(w.since, 3))


class SourceOut(Schema):
    name: str = Field(description="jtop, nvml or psutil.")
    state: str = Field(description="pending, active, unavailable or failing.")
    reason: str | None = Field(description="Why it is unavailable or failing.")
    attempts: int
    failures: int = Field(description="Failed opens and samples since it last worked.")

    @classmethod
    def of(cls, s: SourceStatus) -> SourceOut:
        return cls(
            name=s.name,
            state=s.state.value,
            reason=s.reason,
            attempts=s.attempts,
            failures=s.failures,
        )


class VersionsOut(Schema):
    package: str
    python: str
    onnxruntime: str | None
    tensorrt: str | None
    cuda: str | None
    nvidia_driver: str | None
    l4t: str | None
    jetpack: str | None


class MqttOut(Schema):
    state: str = Field(description="disabled, connecting, connected, disconnected or error.")
    broker: str | None = Field(description="host:port (never the credentials).")
    last_error: str | None
    since: float = Field(description="Unix time of the last change of state.")
    published: int = Field(description="Messages the broker acknowledged.")
    dropped: int = Field(description="Messages dropped while the broker was away too long.")


class SystemOut(Schema):
    interval_s: float = Field(description="Seconds between samples.")
    snapshot: SampleOut | None = Field(description="The newest sample; null until the first.")
    history: list[SampleOut] = Field(description="Oldest first.")
    warnings: list[WarningOut]
    sources: list[SourceOut]
    versions: VersionsOut
    mqtt: MqttOut


@router.get(
    "",
    response_model=SystemOut,
    responses=error_responses(422),
    summary="Device telemetry: CPU, GPU, memory, temperatures, power, warnings, versions",
)
async def get_system(
    telemetry: TelemetryDep,
    services: ServicesDep,
    minutes: Annotated[float, Query(ge=0, le=60, description="History to include.")] = 10,
    max_points: Annotated[
        int | None, Query(ge=1, le=3600, description="Thin the history evenly to this many.")
    ] = None,
) -> SystemOut:
    versions: Versions = await asyncio.to_thread(telemetry.versions)  # once: may run dpkg
    snapshot = telemetry.snapshot()
    return SystemOut(
        interval_s=telemetry.interval_s,
        snapshot=SampleOut.of(snapshot) if snapshot is not None else None,
        history=[SampleOut.of(s) for s in telemetry.history(minutes * 60, max_points)],
        warnings=[WarningOut.of(w) for w in telemetry.warnings()],
        sources=[SourceOut.of(s) for s in telemetry.sources()],
        versions=VersionsOut(**{f: getattr(versions, f) for f in VersionsOut.model_fields}),
        mqtt=MqttOut(**dataclasses.asdict(_mqtt_status(services))),
    )


def _mqtt_status(services: Services) -> MqttStatus:
    return services.mqtt.status() if services.mqtt is not None else MqttStatus.disabled()


def _round(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None
