"""The three sources: psutil on this machine, NVML without a driver, jtop on recorded data."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import psutil
import pytest
from jtop_recorded import (
    ORIN_MEMORY,
    ORIN_NVPMODELS,
    ORIN_POWER,
    THOR_GPU,
    RecordedJtop,
)

from appliance.telemetry import SourceUnavailableError, derive_warnings, merge
from appliance.telemetry.jtop_source import JtopSource, connect_jtop
from appliance.telemetry.nvml_source import NvmlSource
from appliance.telemetry.psutil_source import PsutilSource


def nvml_driver_present() -> bool:
    source = NvmlSource()
    try:
        source.open()
    except SourceUnavailableError:
        return False
    source.close()
    return True


# --- psutil ---------------------------------------------------------------------------------


def test_psutil_reads_this_machine() -> None:
    source = PsutilSource()
    source.open()
    time.sleep(0.1)
    reading = source.sample()
    source.close()
    assert len(reading.cpu_percent) == psutil.cpu_count()
    assert all(p is not None and 0.0 <= p <= 100.0 for p in reading.cpu_percent)
    assert reading.memory_total_mb is not None and reading.memory_total_mb > 0
    assert reading.memory_used_mb is not None
    assert 0 < reading.memory_used_mb < reading.memory_total_mb
    assert reading.swap_total_mb is not None and reading.swap_total_mb >= 0
    assert all(isinstance(t, float) for t in reading.temperatures.values())


def test_psutil_reads_the_cpu_governor(tmp_path: Path) -> None:
    (tmp_path / "scaling_governor").write_text("powersave\n")
    (tmp_path / "scaling_driver").write_text("tegra194\n")
    source = PsutilSource(cpufreq_dir=tmp_path)
    source.open()
    reading = source.sample()
    assert (reading.cpu_governor, reading.cpu_scaling_driver) == ("powersave", "tegra194")
    assert PsutilSource(cpufreq_dir=tmp_path / "absent").sample().cpu_governor is None


# --- NVML -----------------------------------------------------------------------------------


def test_nvml_without_a_driver_is_unavailable() -> None:
    if nvml_driver_present():
        pytest.skip("an NVIDIA driver is installed here")
    source = NvmlSource()
    with pytest.raises(SourceUnavailableError, match="NVML Shared Library Not Found"):
        source.open()
    source.close()  # harmless after a failed open
    with pytest.raises(SourceUnavailableError, match="NVML"):
        source.open()  # and it can be tried again


@pytest.mark.gpu
def test_nvml_reads_the_gpus() -> None:
    if not nvml_driver_present():
        pytest.skip("needs an NVIDIA driver")
    source = NvmlSource()
    source.open()
    try:
        reading = source.sample()
    finally:
        source.close()
    assert reading.gpus
    for gpu in reading.gpus:
        assert gpu.name
        assert gpu.memory_total_mb is not None and gpu.memory_total_mb > 0
        assert gpu.temperature_c is not None and 0 < gpu.temperature_c < 120
        assert gpu.load_percent is not None and 0 <= gpu.load_percent <= 100


# --- jtop, on recorded data -----------------------------------------------------------------


def test_jtop_adapter_on_recorded_orin_data() -> None:
    source = JtopSource(connect=RecordedJtop)
    source.open()
    reading = source.sample()

    assert reading.cpu_percent[:2] == (28.0, 9.5)
    assert reading.cpu_percent[8:] == (None, None, None, None)  # offline in 30W
    assert reading.cpu_governor == "schedutil"
    assert reading.memory_total_mb == pytest.approx(ORIN_MEMORY["RAM"]["tot"] / 1024)
    assert reading.memory_used_mb == pytest.approx(5834120 / 1024)
    assert reading.swap_total_mb == pytest.approx(ORIN_MEMORY["SWAP"]["tot"] / 1024)
    assert "CV0" not in reading.temperatures  # offline zones (-256) are left out
    assert reading.temperatures["Tj"] == pytest.approx(52.156)
    (gpu,) = reading.gpus
    assert gpu.name == "gpu"
    assert gpu.load_percent == pytest.approx(46.3)
    assert gpu.frequency_mhz == pytest.approx(624.75)
    assert gpu.temperature_c == pytest.approx(49.593)
    assert gpu.power_w == pytest.approx(ORIN_POWER["rail"]["VDD_GPU_SOC"]["power"] / 1000)
    assert gpu.memory_used_mb == pytest.approx(412664 / 1024)
    assert set(reading.power_rails_w) == {
        "VDD_CPU_CV",
        "VDD_GPU_SOC",
        "VDDQ_VDD2_1V8AO",
        "VIN_SYS_5V0",
    }
    assert reading.power_total_w == pytest.approx(ORIN_POWER["tot"]["power"] / 1000)
    assert reading.fan_percent == pytest.approx(31.37, abs=0.01)
    assert reading.fan_rpm == 1519
    assert reading.power_mode == "30W"
    assert reading.power_modes == ORIN_NVPMODELS
    assert reading.jetson_clocks is False

    source.close()
    with pytest.raises(SourceUnavailableError):
        source.sample()


def test_jtop_adapter_on_recorded_thor_gpu() -> None:
    source = JtopSource(connect=lambda: RecordedJtop(gpu=THOR_GPU))
    source.open()
    (gpu,) = source.sample().gpus
    assert (gpu.name, gpu.load_percent, gpu.temperature_c, gpu.power_w) == ("Thor", 37, 48, 21.5)
    assert gpu.frequency_mhz == 1575
    assert gpu.memory_used_mb == pytest.approx(6144)


def test_jtop_without_nvpmodel_or_jetson_clocks() -> None:
    source = JtopSource(connect=lambda: RecordedJtop(nvpmodel=None, jetson_clocks=None))
    source.open()
    reading = source.sample()
    assert (reading.power_mode, reading.power_modes, reading.jetson_clocks) == (None, (), None)


def test_jtop_lost_connection_raises() -> None:
    jetson = RecordedJtop()
    source = JtopSource(connect=lambda: jetson)
    source.open()
    jetson.error = ConnectionResetError("Lost connection with jtop server")
    with pytest.raises(ConnectionResetError):
        source.sample()
    jetson.error, jetson.closed = None, True
    with pytest.raises(SourceUnavailableError, match="lost the connection"):
        source.sample()


def test_recorded_orin_in_30w_warns_of_low_power_only() -> None:
    source = JtopSource(connect=RecordedJtop)
    source.open()
    codes = [w.code for w in derive_warnings(merge(0.0, [source.sample()]))]
    assert codes == ["low_power_mode"]


def test_connect_jtop_without_jetson_stats() -> None:
    if importlib.util.find_spec("jtop") is not None:
        pytest.skip("jetson-stats is installed here")
    with pytest.raises(SourceUnavailableError, match="jetson-stats is not installed"):
        connect_jtop()
