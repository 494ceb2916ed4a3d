"""Warnings derived from one sample: pure functions, so the thresholds are easy to test."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from appliance.telemetry.model import Sample

# Jetson Orin/Xavier start software throttling near 99 °C (cpu, gpu, soc zones) and desktop
# CPUs/GPUs near 90 to 100 °C; warning at 85 °C shows the trend before the clocks drop.
HOT_C = 85.0
# Sensors report -256 °C (jtop) or other nonsense when offline; nothing real is below this.
PLAUSIBLE_MIN_C = -40.0
# NVML clock-event reasons that mean the GPU is slowed down to protect itself.
THROTTLE_REASONS = frozenset({"hw_slowdown", "hw_thermal", "sw_thermal", "hw_power_brake"})
# RAM this full leaves the page cache no room: frame buffers and engines start to swap or OOM.
MEMORY_PRESSURE_PERCENT = 90.0
# Heavy swap use counts only while RAM is also tight: stale pages parked in swap on a machine
# with free RAM are harmless, but a Jetson swapping to eMMC/zram while busy stalls inference.
SWAP_PRESSURE_PERCENT = 50.0
SWAP_RAM_PERCENT = 75.0
# "powersave" caps the clocks with acpi-cpufreq/cpufreq-dt (Jetson), but with intel_pstate and
# amd-pstate-epp it is the normal dynamic mode, which still boosts: not a low-power setting.
POWERSAVE_GOVERNOR = "powersave"
PSTATE_DRIVERS = frozenset({"intel_pstate", "amd-pstate-epp", "amd-pstate"})
_WATTS = re.compile(r"(\d+(?:\.\d+)?)\s*W", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HealthWarning:
    """A condition that slows or endangers inference; `code` is stable for clients."""

    code: str
    message: str


def derive_warnings(sample: Sample) -> list[HealthWarning]:
    found = (check(sample) for check in CHECKS)
    return [warning for warning in found if warning is not None]


def thermal_throttling(sample: Sample) -> HealthWarning | None:
    hot = {name: t for name, t in _temperatures(sample).items() if t >= HOT_C}
    slowed = {
        gpu.name: sorted(THROTTLE_REASONS.intersection(gpu.throttle_reasons))
        for gpu in sample.gpus
        if THROTTLE_REASONS.intersection(gpu.throttle_reasons)
    }
    if not hot and not slowed:
        return None
    parts = [f"{name} {t:.0f} °C" for name, t in sorted(hot.items(), key=lambda kv: -kv[1])]
    parts += [f"{name} throttled ({', '.join(reasons)})" for name, reasons in slowed.items()]
    return HealthWarning("thermal_throttling", f"Hot or throttling: {'; '.join(parts)}")


def low_power_mode(sample: Sample) -> HealthWarning | None:
    mode = sample.power_mode
    if mode is not None and _below_top_mode(mode, sample.power_modes):
        top = _top_mode(sample.power_modes)
        return HealthWarning(
            "low_power_mode", f"Power mode {mode} limits performance; the fastest is {top}"
        )
    if (
        sample.cpu_governor == POWERSAVE_GOVERNOR
        and sample.cpu_scaling_driver not in PSTATE_DRIVERS
    ):
        return HealthWarning("low_power_mode", "CPU frequency governor is powersave")
    return None


def memory_pressure(sample: Sample) -> HealthWarning | None:
    ram, swap = sample.memory_percent, sample.swap_percent
    if ram is not None and ram >= MEMORY_PRESSURE_PERCENT:
        return HealthWarning("memory_pressure", f"RAM {ram:.0f} % used")
    if (
        swap is not None
        and swap >= SWAP_PRESSURE_PERCENT
        and ram is not None
        and ram >= SWAP_RAM_PERCENT
    ):
        return HealthWarning("memory_pressure", f"Swap {swap:.0f} % used with RAM {ram:.0f} %")
    return None


CHECKS: tuple[Callable[[Sample], HealthWarning | None], ...] = (
    thermal_throttling,
    low_power_mode,
    memory_pressure,
)


def _temperatures(sample: Sample) -> dict[str, float]:
    found = {name: t for name, t in sample.temperatures.items() if t > PLAUSIBLE_MIN_C}
    for gpu in sample.gpus:
        if gpu.temperature_c is not None and gpu.temperature_c > PLAUSIBLE_MIN_C:
            found.setdefault(gpu.name, gpu.temperature_c)
    return found


def _below_top_mode(mode: str, modes: tuple[str, ...]) -> bool:
    """Below the board's fastest nvpmodel: MAXN where the board has one, else most watts.
    Without the list of modes we cannot tell, so we don't warn."""
    top = _top_mode(modes)
    return top is not None and mode != top and not mode.upper().startswith("MAXN")


def _top_mode(modes: tuple[str, ...]) -> str | None:
    maxn = [m for m in modes if m.upper().startswith("MAXN")]
    if maxn:
        return maxn[0]
    rated = [(float(match.group(1)), m) for m in modes if (match := _WATTS.search(m))]
    return max(rated)[1] if rated else None
