"""deploy/install.sh and uninstall.sh, run for real into a temporary root (APPLIANCE_ROOT): no
systemctl, no user creation, no pip install, so each run takes well under a second."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Verify = Callable[[Path], subprocess.CompletedProcess[str]]


def run(script: Path, root: Path, *args: str) -> str:
    env = {**os.environ, "APPLIANCE_ROOT": str(root)}
    result = subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def install(root: Path, deploy: Path = DEPLOY) -> str:
    return run(deploy / "install.sh", root, "--no-pip", "--python", sys.executable)


def uninstall(root: Path, *args: str, deploy: Path = DEPLOY) -> str:
    return run(deploy / "uninstall.sh", root, *args)


@pytest.fixture
def jetson_root(tmp_path: Path) -> Path:
    """A root that looks like a Jetson with jetson-stats: L4T release file, device nodes (plain
    files stand in: the installer only lists them), and video + jtop but no render group."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 4.0, GCID: 1\n")
    (root / "etc/group").write_text("root:x:0:\nvideo:x:44:\njtop:x:998:\n")
    (root / "dev/nvgpu/igpu0").mkdir(parents=True)
    for node in ("nvmap", "nvhost-ctrl-gpu", "nvhost-as-gpu", "nvgpu/igpu0/ctrl"):
        (root / "dev" / node).touch()
    return root


def test_scripts_are_executable_and_shellcheck_clean(need: Callable[[str], str]) -> None:
    scripts = [str(DEPLOY / "install.sh"), str(DEPLOY / "uninstall.sh")]
    assert all(os.access(script, os.X_OK) for script in scripts)  # `sudo deploy/install.sh`
    result = subprocess.run(
        [need("shellcheck"), "--severity=style", *scripts],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_twice_keeps_settings_then_uninstall_keeps_data(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env_file = root / "etc/appliance/appliance.env"
    unit = root / "etc/systemd/system/appliance.service"
    dropin = root / "etc/systemd/system/appliance.service.d/10-local.conf"
    venv = root / "opt/appliance/venv"

    install(root)
    assert unit.read_text() == (DEPLOY / "appliance.service").read_text()
    assert env_file.read_text() == (DEPLOY / "appliance.env").read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600  # may hold secrets one day
    assert (venv / "pyvenv.cfg").is_file()
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    assert os.readlink(root / "usr/local/bin/appliance") == "/opt/appliance/venv/bin/appliance"
    # No group database in this root: no SupplementaryGroups= line that could fail the unit.
    assert "SupplementaryGroups" not in dropin.read_text()

    env_file.write_text("APPLIANCE_HOST=0.0.0.0\n")  # the operator's edit
    output = install(root)
    assert "keeping" in output
    assert env_file.read_text() == "APPLIANCE_HOST=0.0.0.0\n"

    (root / "var/lib/appliance").mkdir(parents=True)  # what systemd's StateDirectory= makes
    uninstall(root)
    for gone in (unit, dropin, venv, root / "usr/local/bin/appliance"):
        assert not gone.exists() and not gone.is_symlink(), gone
    assert env_file.exists()
    assert (root / "var/lib/appliance").is_dir()

    uninstall(root, "--purge")  # twice is fine, and --purge takes settings and data
    assert not (root / "etc/appliance").exists()
    assert not (root / "var/lib/appliance").exists()


def test_jetson_gets_system_packages_existing_groups_and_its_devices(
    jetson_root: Path, verify_unit: Verify
) -> None:
    install(jetson_root)
    cfg = (jetson_root / "opt/appliance/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg  # JetPack's TensorRT and OpenCV
    unit_dir = jetson_root / "etc/systemd/system"
    dropin = (unit_dir / "appliance.service.d/10-local.conf").read_text()
    assert re.search(r"^SupplementaryGroups=video jtop$", dropin, re.MULTILINE)  # no render
    devices = re.findall(r"^DeviceAllow=(\S+) rw$", dropin, re.MULTILINE)
    assert sorted(devices) == [
        "/dev/nvgpu/igpu0/ctrl",
        "/dev/nvhost-as-gpu",
        "/dev/nvhost-ctrl-gpu",
        "/dev/nvmap",
    ]

    checked = jetson_root.parent / "verify"
    shutil.copytree(unit_dir, checked)
    result = verify_unit(checked)  # the unit with the generated drop-in
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_desktop_entry_and_icon_when_present(tmp_path: Path) -> None:
    """The dashboard adds deploy/appliance.desktop and an icon; the installer handles both."""
    deploy = tmp_path / "src/deploy"
    shutil.copytree(DEPLOY, deploy)
    (deploy / "appliance.desktop").write_text("[Desktop Entry]\nType=Application\nName=A\n")
    (deploy / "appliance.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>\n")
    (tmp_path / "src/pyproject.toml").touch()
    root = tmp_path / "root"
    entry = root / "usr/local/share/applications/appliance.desktop"
    icon = root / "usr/local/share/icons/hicolor/scalable/apps/appliance.svg"

    install(root, deploy)
    assert entry.read_text() == (deploy / "appliance.desktop").read_text()
    assert icon.is_file()
    uninstall(root, deploy=deploy)
    assert not entry.exists()
    assert not icon.exists()


def test_shipped_desktop_entry_is_valid(need: Callable[[str], str]) -> None:
    entry = DEPLOY / "appliance.desktop"
    if not entry.exists():
        pytest.skip("deploy/appliance.desktop is not there yet (the dashboard adds it)")
    result = subprocess.run(
        [need("desktop-file-validate"), str(entry)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_refuses_unknown_options(tmp_path: Path) -> None:
    env = {**os.environ, "APPLIANCE_ROOT": str(tmp_path)}
    for script in ("install.sh", "uninstall.sh"):
        result = subprocess.run(
            ["bash", str(DEPLOY / script), "--frobnicate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "unknown" in result.stderr
    assert not any(tmp_path.iterdir())


def test_env_example_names_real_settings_with_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every APPLIANCE_* line in deploy/appliance.env, uncommented, is accepted by Settings."""
    lines = re.findall(r"^#(APPLIANCE_\w+)=(.*)$", (DEPLOY / "appliance.env").read_text(), re.M)
    assert lines
    for name, value in lines:
        assert name.removeprefix("APPLIANCE_").lower() in Settings.model_fields, name
        monkeypatch.setenv(name, value)
    Settings()
