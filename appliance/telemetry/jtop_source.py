"""jetson-stats (jtop): CPU, GPU, RAM, temperatures, power rails, fan, nvpmodel on a Jetson.

jetson-stats is AGPL-3.0 and an optional extra (`edge-appliance[jetson]`): it is imported only
when this source opens, and talks to the root `jtop.service` through /run/jtop.sock. Units
follow jetson-stats 4.x/7.x: memory in kB, frequencies in kHz, power in mW, temperatures in °C.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from appliance.telemetry.base import SourceUnavailableError
from appliance.telemetry.model import GpuSample, Reading

OFFLINE_C = -256.0  # what jtop reports for a thermal zone it cannot read


class Jtop(Protocol):
    """The part of a started `jtop.jtop` this adapter reads."""

    cpu: Mapping[str, Any]
    memory: Mapping[str, Any]
    gpu: Mapping[str, Any]
    fan: Mapping[str, Any]
    temperature: Mapping[str, Any]
    power: Mapping[str, Any]
    nvpmodel: Any
    jetson_clocks: Any

    def ok(self, spin: bool = False) -> bool: ...

    def close(self) -> None: ...


class JtopSource:
    """`connect` is injectable so the adapter runs against recorded jtop data off-device."""

    name = "jtop"

    def __init__(
        self, connect: Callable[[], Jtop] | None = None, retry_after_s: float = 30.0
    ) -> None:
        self.retry_after_s = retry_after_s
        self._connect = connect or connect_jtop
        self._jetson: Jtop | None = None

    def open(self) -> None:
        self._jetson = self._connect()

    def sample(self) -> Reading:
        if self._jetson is None:
            raise SourceUnavailableError("jtop is not open")
        if not self._jetson.ok(spin=True):  # re-raises what ended jtop's reader thread
            raise SourceUnavailableError("lost the connection to jtop.service")
        return reading_from_jtop(self._jetson)

    def close(self) -> None:
        jetson, self._jetson = self._jetson, None
        if jetson is not None:
            jetson.close()


def connect_jtop(interval_s: float = 1.0) -> Jtop:
    """A started jtop client; without jtop.service `start()` raises JtopException."""
    try:
        from jtop import JtopException, jtop  # optional, AGPL: only imported here
    except ImportError as exc:
        raise SourceUnavailableError("jetson-stats is not installed") from exc
    jetson = jtop(interval=interval_s)
    try:
        jetson.start()
    except JtopException as exc:
        raise SourceUnavailableError(f"jtop.service: {str(exc).splitlines()[0]}") from exc
    return jetson


def reading_from_jtop(jetson: Jtop) -> Reading:
    cores = list(jetson.cpu.get("cpu", []))
    ram = jetson.memory.get("RAM", {})
    swap = jetson.memory.get("SWAP", {})
    temperatures = {
        name: float(t["temp"])
        for name, t in jetson.temperature.items()
        if t.get("online", True) and float(t.get("temp", OFFLINE_C)) > OFFLINE_C
    }
    rails = _rails_w(jetson.power)
    fan_percent, fan_rpm = _fan(jetson.fan)
    nvpmodel = jetson.nvpmodel
    return Reading(
        cpu_percent=tuple(_core_load(core) for core in cores),
        cpu_governor=next(
            (c["governor"] for c in cores if c.get("online") and "governor" in c), None
        ),
        memory_used_mb=_kb_to_mb(ram.get("used")),
        memory_total_mb=_kb_to_mb(ram.get("tot")),
        swap_used_mb=_kb_to_mb(swap.get("used")),
        swap_total_mb=_kb_to_mb(swap.get("tot")),
        temperatures=temperatures,
        gpus=tuple(_gpu(name, gpu, ram, temperatures, rails) for name, gpu in jetson.gpu.items()),
        power_rails_w=rails,
        power_total_w=_mw_to_w(jetson.power.get("tot", {}).get("power")),
        fan_percent=fan_percent,
        fan_rpm=fan_rpm,
        power_mode=str(nvpmodel.name) if nvpmodel is not None else None,
        power_modes=tuple(nvpmodel.models) if nvpmodel is not None else (),
        jetson_clocks=bool(jetson.jetson_clocks) if jetson.jetson_clocks is not None else None,
    )


def _core_load(core: Mapping[str, Any]) -> float | None:
    """jtop's own `stats` reports a core as 100 - idle; offline cores have no idle."""
    if not core.get("online", True) or "idle" not in core:
        return None
    return round(100.0 - float(core["idle"]), 1)


def _gpu(
    name: str,
    gpu: Mapping[str, Any],
    ram: Mapping[str, Any],
    temperatures: Mapping[str, float],
    rails: Mapping[str, float],
) -> GpuSample:
    """Orin and older (sysfs): frequencies in kHz; the GPU shares RAM, `shared`
    (NvMapMemUsed) is what it has mapped; its temperature is the `gpu` zone and its power the
    rail named GPU (VDD_GPU_SOC on Orin). Thor (jetson-stats 7, `power_control` "nvml"): NVML
    values in the status, frequencies in MHz, memory in bytes, power in W."""
    status, freq = gpu.get("status", {}), gpu.get("freq", {})
    if gpu.get("power_control") == "nvml":
        return GpuSample(
            name=name,
            load_percent=_float(status.get("load")),
            memory_used_mb=_bytes_to_mb(status.get("memory_used")),
            memory_total_mb=_bytes_to_mb(status.get("memory_total")),
            temperature_c=_float(status.get("temperature")),
            power_w=_float(status.get("power_draw")),
            frequency_mhz=_float(freq.get("cur")) or None,
        )
    temperature = next((t for n, t in temperatures.items() if n.lower() == "gpu"), None)
    power = next((w for n, w in rails.items() if "GPU" in n.upper()), None)
    return GpuSample(
        name=name,
        load_percent=_float(status.get("load")),
        memory_used_mb=_kb_to_mb(ram.get("shared")),
        memory_total_mb=_kb_to_mb(ram.get("tot")),
        temperature_c=temperature,
        power_w=power,
        frequency_mhz=freq["cur"] / 1000 if "cur" in freq else None,
    )


def _rails_w(power: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: rail["power"] / 1000
        for name, rail in power.get("rail", {}).items()
        if rail.get("online", True) and "power" in rail
    }


def _fan(fans: Mapping[str, Any]) -> tuple[float | None, int | None]:
    """The first fan: Jetson dev kits have one (`pwmfan`)."""
    for fan in fans.values():
        speeds, rpms = fan.get("speed") or [None], fan.get("rpm") or [None]
        rpm = int(rpms[0]) if rpms[0] is not None else None
        return _float(speeds[0]), rpm
    return None, None


def _kb_to_mb(value: float | None) -> float | None:
    return value / 1024 if value is not None else None


def _bytes_to_mb(value: float | None) -> float | None:
    return value / (1024 * 1024) if value is not None else None


def _mw_to_w(value: float | None) -> float | None:
    return value / 1000 if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
