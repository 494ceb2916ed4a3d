"""Frozen telemetry values: what one source reads, and the merged sample of one instant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU. On a Jetson the memory is the unified RAM that the GPU has mapped."""

    name: str
    load_percent: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    frequency_mhz: float | None = None
    throttle_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What one source could read; every field is optional, sources fill what they know."""

    cpu_percent: tuple[float | None, ...] = ()  # per core; None for a core that is offline
    cpu_governor: str | None = None
    cpu_scaling_driver: str | None = None
    memory_used_mb: float | None = None  # total minus available: what applications hold
    memory_total_mb: float | None = None
    swap_used_mb: float | None = None
    swap_total_mb: float | None = None
    temperatures: Mapping[str, float] = field(default_factory=dict)  # °C by sensor name
    gpus: tuple[GpuSample, ...] = ()
    power_rails_w: Mapping[str, float] = field(default_factory=dict)
    power_total_w: float | None = None
    fan_percent: float | None = None
    fan_rpm: int | None = None
    power_mode: str | None = None  # the nvpmodel name on a Jetson
    power_modes: tuple[str, ...] = ()  # every nvpmodel this board offers
    jetson_clocks: bool | None = None

    def __post_init__(self) -> None:
        for name in ("temperatures", "power_rails_w"):  # read-only, so a sample stays frozen
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def memory_percent(self) -> float | None:
        return _percent(self.memory_used_mb, self.memory_total_mb)

    @property
    def swap_percent(self) -> float | None:
        return _percent(self.swap_used_mb, self.swap_total_mb)


@dataclass(frozen=True, kw_only=True)
class Sample(Reading):
    """The merged readings of every working source at one instant (Unix time)."""

    timestamp: float


def merge(timestamp: float, readings: Iterable[Reading]) -> Sample:
    """Each field from the first reading that has it: sources come in order of preference
    (jtop, then NVML, then psutil), so the most specific backend wins field by field."""
    ordered = list(readings)
    values: dict[str, Any] = {}
    for f in fields(Reading):
        for reading in ordered:
            value = getattr(reading, f.name)
            if value is not None and not (isinstance(value, tuple | Mapping) and not value):
                values[f.name] = value
                break
    return Sample(timestamp=timestamp, **values)


def _percent(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return round(100.0 * used / total, 1)
