"""Deploy tests use real tools (systemd-analyze, shellcheck, bash): scripts/test.sh installs
them, so under CI a missing tool fails the test; elsewhere it skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALLED_EXEC = "/opt/appliance/venv/bin/appliance"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{tool} is missing; scripts/test.sh installs it")
    pytest.skip(f"{tool} is not installed (scripts/test.sh installs it)")


@pytest.fixture
def need() -> Callable[[str], str]:
    """The path of a command-line tool: skips the test where it is missing, fails under CI."""
    return _need


@pytest.fixture
def verify_unit() -> Callable[[Path], subprocess.CompletedProcess[str]]:
    """`systemd-analyze verify` on a copy of the unit (and its drop-ins) in a folder."""

    def verify(unit_dir: Path) -> subprocess.CompletedProcess[str]:
        # verify checks that ExecStart's binary exists, and /opt/appliance/venv is not on this
        # machine: point the copy at this venv's `appliance`, same arguments.
        here = Path(sys.executable).parent / "appliance"
        unit = unit_dir / "appliance.service"
        unit.write_text(unit.read_text().replace(INSTALLED_EXEC, str(here)))
        return subprocess.run(
            [_need("systemd-analyze"), "verify", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    return verify


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for each assignment, in order; keys may repeat in systemd."""
    section, settings = "", []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            settings.append((section, key.strip(), value.strip()))
    return settings


@pytest.fixture
def unit() -> list[tuple[str, str, str]]:
    return unit_settings((DEPLOY / "appliance.service").read_text())
