"""psutil: CPU per core, memory, swap, temperatures and fans on any machine."""

from __future__ import annotations

from pathlib import Path

import psutil

from appliance.telemetry.model import Reading

_MB = 1024 * 1024
_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


class PsutilSource:
    """Never blocks: cpu_percent(interval=None) measures since the previous call, which
    `open` makes, so the first sample a second later already has real numbers."""

    name = "psutil"

    def __init__(self, retry_after_s: float = 10.0, cpufreq_dir: Path = _CPUFREQ) -> None:
        self.retry_after_s = retry_after_s
        self._cpufreq = cpufreq_dir

    def open(self) -> None:
        psutil.cpu_percent(percpu=True, interval=None)

    def sample(self) -> Reading:
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        rpm = _fan_rpm()
        return Reading(
            cpu_percent=tuple(psutil.cpu_percent(percpu=True, interval=None)),
            cpu_governor=_read(self._cpufreq / "scaling_governor"),
            cpu_scaling_driver=_read(self._cpufreq / "scaling_driver"),
            memory_used_mb=(memory.total - memory.available) / _MB,
            memory_total_mb=memory.total / _MB,
            swap_used_mb=swap.used / _MB,
            swap_total_mb=swap.total / _MB,
            temperatures=_temperatures(),
            fan_rpm=rpm,
        )

    def close(self) -> None:
        pass


def _temperatures() -> dict[str, float]:
    """`chip/label` → °C; a chip's unlabelled sensors are numbered."""
    read = getattr(psutil, "sensors_temperatures", None)  # absent on macOS and Windows
    if read is None:
        return {}
    found: dict[str, float] = {}
    for chip, entries in read().items():
        for index, entry in enumerate(entries):
            label = entry.label or (chip if len(entries) == 1 else f"{chip}{index}")
            key = label if label == chip else f"{chip}/{label}"
            found[key] = float(entry.current)
    return found


def _fan_rpm() -> int | None:
    read = getattr(psutil, "sensors_fans", None)
    fans = [entry.current for entries in (read() if read else {}).values() for entry in entries]
    return int(fans[0]) if fans else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
