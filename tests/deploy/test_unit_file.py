"""deploy/appliance.service: systemd accepts it without a warning, and it stays hardened."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Verify = Callable[[Path], subprocess.CompletedProcess[str]]


def test_systemd_analyze_verify_is_silent(tmp_path: Path, verify_unit: Verify) -> None:
    shutil.copy(DEPLOY / "appliance.service", tmp_path)
    result = verify_unit(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # verify exits 0 on warnings: they only show on stderr


def test_security_exposure_stays_low(tmp_path: Path, need: Callable[[str], str]) -> None:
    shutil.copy(DEPLOY / "appliance.service", tmp_path)
    result = subprocess.run(
        [need("systemd-analyze"), "security", "--offline=yes", str(tmp_path / "appliance.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for appliance.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0, result.stdout  # 1.6 when written; 10 is unprotected


def test_supervision_and_identity(unit: list[tuple[str, str, str]]) -> None:
    service = {key: value for section, key, value in unit if section == "Service"}
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"]
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"] == "/opt/appliance/venv/bin/appliance serve"
    assert service["StateDirectory"] == "appliance"  # the app's data dir: $STATE_DIRECTORY
    assert service["EnvironmentFile"] == "-/etc/appliance/appliance.env"
    assert service["User"] == "appliance"
    assert "DynamicUser" not in service
    # A group missing on the machine fails the unit: install.sh writes the ones that exist.
    assert "SupplementaryGroups" not in service


def test_devices_are_an_allow_list(unit: list[tuple[str, str, str]]) -> None:
    service = {key: value for section, key, value in unit if section == "Service"}
    allowed = [value for _, key, value in unit if key == "DeviceAllow"]
    assert service["DevicePolicy"] == "closed"
    assert {"char-video4linux rw", "char-drm rw", "char-nvidia* rw"} <= set(allowed)
    assert "PrivateDevices" not in service  # it would hide cameras and GPUs


def test_hardening_that_keeps_gpus_and_jit_working(unit: list[tuple[str, str, str]]) -> None:
    service = {key: value for section, key, value in unit if section == "Service"}
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "UMask": "0077",
    }
    assert {key: service.get(key) for key in expected} == expected
    filters = [value for _, key, value in unit if key == "SystemCallFilter"]
    assert "@system-service" in filters
    # CUDA's PTX JIT, TensorRT and ONNX Runtime need writable+executable memory.
    assert "MemoryDenyWriteExecute" not in service
