"""NVML (nvidia-ml-py): load, memory, temperature, power and clocks of discrete GPUs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from appliance.telemetry.base import SourceUnavailableError
from appliance.telemetry.model import GpuSample, Reading

T = TypeVar("T")
_MB = 1024 * 1024


class NvmlSource:
    """Without a driver nvmlInit raises NVMLError_LibraryNotFound: the source reports itself
    unavailable and the sampler tries again once a minute, not every second."""

    name = "nvml"

    def __init__(self, retry_after_s: float = 60.0) -> None:
        self.retry_after_s = retry_after_s
        self._nvml: Any = None
        self._handles: list[tuple[str, Any]] = []

    def open(self) -> None:
        import pynvml  # only once opened: nothing NVIDIA loads at import time

        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise SourceUnavailableError(f"NVML: {exc}") from exc
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._handles = [(_text(pynvml.nvmlDeviceGetName(h)), h) for h in handles]
        except pynvml.NVMLError as exc:
            self.close()
            raise SourceUnavailableError(f"NVML: {exc}") from exc
        if not self._handles:
            self.close()
            raise SourceUnavailableError("NVML: no NVIDIA GPU")

    def sample(self) -> Reading:
        return Reading(gpus=tuple(self._gpu(name, handle) for name, handle in self._handles))

    def close(self) -> None:
        nvml, self._nvml, self._handles = self._nvml, None, []
        if nvml is not None:
            with suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def _gpu(self, name: str, handle: Any) -> GpuSample:
        """Each query on its own: a GPU that lacks one (power on GeForce laptops) keeps the rest."""
        n = self._nvml
        memory = self._optional(n.nvmlDeviceGetMemoryInfo, handle)
        utilization = self._optional(n.nvmlDeviceGetUtilizationRates, handle)
        power_mw = self._optional(n.nvmlDeviceGetPowerUsage, handle)
        reasons = self._optional(n.nvmlDeviceGetCurrentClocksEventReasons, handle)
        if reasons is None:  # drivers before 535 know only the older name
            reasons = self._optional(n.nvmlDeviceGetCurrentClocksThrottleReasons, handle)
        temperature = self._optional(n.nvmlDeviceGetTemperature, handle, n.NVML_TEMPERATURE_GPU)
        clock = self._optional(n.nvmlDeviceGetClockInfo, handle, n.NVML_CLOCK_GRAPHICS)
        return GpuSample(
            name=name,
            load_percent=float(utilization.gpu) if utilization is not None else None,
            memory_used_mb=memory.used / _MB if memory is not None else None,
            memory_total_mb=memory.total / _MB if memory is not None else None,
            temperature_c=float(temperature) if temperature is not None else None,
            power_w=power_mw / 1000 if power_mw is not None else None,
            frequency_mhz=float(clock) if clock is not None else None,
            throttle_reasons=_reasons(n, reasons) if reasons is not None else (),
        )

    def _optional(self, query: Callable[..., T], *args: Any) -> T | None:
        """None where this GPU or driver lacks a query; a lost GPU still raises."""
        n = self._nvml
        try:
            return query(*args)
        except (n.NVMLError_NotSupported, n.NVMLError_NoPermission, n.NVMLError_FunctionNotFound):
            return None


def _reasons(nvml: Any, mask: int) -> tuple[str, ...]:
    names = {
        "hw_slowdown": nvml.nvmlClocksEventReasonHwSlowdown,
        "hw_thermal": nvml.nvmlClocksEventReasonHwThermalSlowdown,
        "sw_thermal": nvml.nvmlClocksEventReasonSwThermalSlowdown,
        "hw_power_brake": nvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
        "sw_power_cap": nvml.nvmlClocksEventReasonSwPowerCap,
    }
    return tuple(name for name, bit in names.items() if mask & bit)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
