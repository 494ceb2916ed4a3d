"""Warnings derived from crafted samples: hot, low power, memory pressure, and none."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.telemetry import GpuSample, Reading, Sample, derive_warnings, merge

NORMAL: dict[str, Any] = {
    "cpu_percent": (12.0, 30.0, 8.0, 15.0),
    "cpu_governor": "schedutil",
    "memory_used_mb": 4000.0,
    "memory_total_mb": 16000.0,
    "swap_used_mb": 0.0,
    "swap_total_mb": 8000.0,
    "temperatures": {"CPU": 55.0, "GPU": 52.0, "Tj": 56.5},
    "gpus": (GpuSample("gpu", load_percent=40.0, temperature_c=52.0),),
    "power_mode": "MAXN",
    "power_modes": ("MAXN", "15W", "30W", "50W"),
}


def sample(**changes: Any) -> Sample:
    return Sample(timestamp=1.0, **{**NORMAL, **changes})


def codes(s: Sample) -> list[str]:
    return [w.code for w in derive_warnings(s)]


def test_a_normal_sample_has_no_warnings() -> None:
    assert derive_warnings(sample()) == []
    assert derive_warnings(Sample(timestamp=0.0)) == []  # nothing known, nothing to say


def test_hot_sensor_warns_of_throttling() -> None:
    (warning,) = derive_warnings(sample(temperatures={"CPU": 60.0, "Tj": 91.0}))
    assert warning.code == "thermal_throttling"
    assert "Tj 91 °C" in warning.message


def test_hot_discrete_gpu_warns() -> None:
    hot_gpu = GpuSample("NVIDIA RTX A2000", temperature_c=88.0)
    assert codes(sample(gpus=(hot_gpu,), temperatures={})) == ["thermal_throttling"]


def test_gpu_throttle_reason_warns_even_when_cool() -> None:
    slowed = GpuSample("NVIDIA L4", temperature_c=70.0, throttle_reasons=("sw_thermal",))
    (warning,) = derive_warnings(sample(gpus=(slowed,)))
    assert "NVIDIA L4 throttled (sw_thermal)" in warning.message
    capped = GpuSample("NVIDIA L4", temperature_c=70.0, throttle_reasons=("sw_power_cap",))
    assert codes(sample(gpus=(capped,))) == []  # a power cap is normal under load


def test_offline_sensors_do_not_count() -> None:
    assert codes(sample(temperatures={"CV0": -256.0, "CPU": 50.0})) == []


@pytest.mark.parametrize(
    ("mode", "modes", "warns"),
    [
        ("30W", ("MAXN", "15W", "30W", "50W"), True),  # AGX Orin below MAXN
        ("MAXN", ("MAXN", "15W", "30W", "50W"), False),
        ("7W", ("15W", "7W"), True),  # Orin Nano: 15W is its top mode
        ("15W", ("15W", "7W"), False),
        ("MODE_10W", ("MODE_15W", "MODE_10W"), True),
        ("MAXN_SUPER", ("15W", "25W", "7W", "MAXN_SUPER"), False),
        ("10W", (), False),  # the board's modes unknown: cannot tell
    ],
)
def test_low_power_mode_from_nvpmodel(mode: str, modes: tuple[str, ...], warns: bool) -> None:
    found = codes(sample(power_mode=mode, power_modes=modes))
    assert found == (["low_power_mode"] if warns else [])


def test_powersave_governor_warns_except_with_pstate_drivers() -> None:
    powersave = {"power_mode": None, "power_modes": (), "cpu_governor": "powersave"}
    assert codes(sample(**powersave, cpu_scaling_driver="tegra194")) == ["low_power_mode"]
    assert codes(sample(**powersave, cpu_scaling_driver="intel_pstate")) == []


def test_memory_pressure() -> None:
    (warning,) = derive_warnings(sample(memory_used_mb=15000.0))
    assert (warning.code, warning.message) == ("memory_pressure", "RAM 94 % used")
    tight_and_swapping = sample(memory_used_mb=12800.0, swap_used_mb=5000.0)
    assert codes(tight_and_swapping) == ["memory_pressure"]
    stale_swap = sample(memory_used_mb=4000.0, swap_used_mb=6000.0)
    assert codes(stale_swap) == []


def test_several_warnings_at_once() -> None:
    bad = sample(temperatures={"Tj": 99.0}, power_mode="15W", memory_used_mb=15500.0)
    assert codes(bad) == ["thermal_throttling", "low_power_mode", "memory_pressure"]


def test_merge_takes_each_field_from_the_first_source_that_has_it() -> None:
    jtop = Reading(cpu_percent=(50.0, None), temperatures={"CPU": 50.0})
    nvml = Reading(gpus=(GpuSample("GPU 0"),))
    psutil = Reading(cpu_percent=(1.0, 2.0), memory_total_mb=8.0, temperatures={"x": 1.0})
    merged = merge(5.0, [jtop, nvml, psutil])
    assert merged.timestamp == 5.0
    assert merged.cpu_percent == (50.0, None)
    assert dict(merged.temperatures) == {"CPU": 50.0}
    assert merged.gpus[0].name == "GPU 0"
    assert merged.memory_total_mb == 8.0
    with pytest.raises(TypeError):
        merged.temperatures["y"] = 2.0  # type: ignore[index]
