"""`appliance doctor`, run as a user would: a table, or JSON with --json; exit status 0."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from typing import Any

from appliance.doctor import Probe, run_probe

FEATURES = {
    "cpu_inference",
    "gpu_inference",
    "openvino_inference",
    "int8_builds",
    "tensorrt_engines",
    "usb_cameras",
    "csi_cameras",
    "rtsp",
    "jetson_telemetry",
    "systemd",
}


def doctor(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_json_report_shape_cpu_yes_gpu_no() -> None:
    report: dict[str, Any] = json.loads(doctor("--json"))
    assert set(report) == {"appliance", "probes", "features"}
    for probe in report["probes"].values():
        assert set(probe) == {"name", "found", "detail", "info"}
        assert isinstance(probe["found"], bool)
    assert set(report["features"]) == FEATURES
    for feature in report["features"].values():
        assert set(feature) == {"name", "available", "missing"}
        assert feature["available"] is not feature["missing"]  # available iff nothing missing
    features = report["features"]
    assert features["cpu_inference"]["available"] is True
    # The project's onnxruntime is the CPU build: GPU inference needs onnxruntime-gpu.
    assert features["gpu_inference"]["available"] is False
    assert any("onnxruntime-gpu" in need for need in features["gpu_inference"]["missing"])
    providers = report["probes"]["onnxruntime"]["info"]["providers"]
    assert "CPUExecutionProvider" in providers
    # OpenVINO is a dependency on x86_64, NNCF comes with the test extra: auto picks OpenVINO
    if platform.machine() == "x86_64":
        assert features["openvino_inference"]["available"] is True
        assert features["int8_builds"]["available"] is True
        assert "CPU" in report["probes"]["openvino"]["info"]["devices"]
        assert report["probes"]["engine_auto"]["info"]["backend"] == "openvino"


def test_table_lists_machine_and_features() -> None:
    lines = doctor().splitlines()
    assert "Machine" in lines
    assert "Features" in lines
    cpu = next(line for line in lines if line.strip().startswith("CPU inference"))
    gpu = next(line for line in lines if line.strip().startswith("GPU inference"))
    assert cpu.split()[-1] == "yes"
    assert " no " in gpu and "needs" in gpu


def test_a_failing_probe_is_reported_not_raised() -> None:
    def broken() -> Probe:
        raise RuntimeError("driver exploded")

    def absent() -> Probe:
        import appliance_no_such_module  # noqa: F401

        raise AssertionError("unreachable")

    assert run_probe(broken) == Probe(False, "probe failed: RuntimeError: driver exploded")
    assert not run_probe(absent).found
    assert "not installed" in run_probe(absent).detail
