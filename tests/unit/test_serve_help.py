"""`appliance serve --help` says what the service does: each flag's default is the value a
Settings built from an empty environment holds (what `appliance serve` then runs with)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FLAGS = {  # flag -> Settings field
    "--host": "host",
    "--port": "port",
    "--data-dir": "data_dir",
    "--model": "models",
    "--providers": "providers",
    "--log-level": "log_level",
}


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """No APPLIANCE_* at all (the tests' own APPLIANCE_AUTH=0 included), a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.pop("STATE_DIRECTORY", None)
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg"), "COLUMNS": "500"}


def serve_help(env: dict[str, str]) -> dict[str, str]:
    """flag -> its help line, from the real console entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "serve", "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    entries: dict[str, str] = {}
    flag = None
    for line in result.stdout.split("options:", 1)[1].splitlines():
        match = re.match(r"  (--[a-z-]+)(?: \S+)?\s*(.*)$", line)
        if match:  # a flag, its help on the same line or the next ones
            flag = match[1]
            entries[flag] = match[2]
        elif flag and line.strip():
            entries[flag] = f"{entries[flag]} {line.strip()}".strip()
    return entries


def shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def test_help_defaults_are_the_settings_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_environment(tmp_path)
    for name in [k for k in os.environ if k.startswith("APPLIANCE_")] + ["STATE_DIRECTORY"]:
        monkeypatch.delenv(name, raising=False)
    for name in ("HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, env[name])
    defaults = Settings()
    lines = serve_help(env)
    assert set(lines) >= set(FLAGS), lines
    for flag, field in FLAGS.items():
        found = re.findall(r"\(default: ([^)]*)\)", lines[flag])
        assert found == [shown(getattr(defaults, field))], (flag, lines[flag])
    # the case: help said 127.0.0.1 while a default start binds the LAN (with auth on)
    assert defaults.auth and defaults.bind_host == "0.0.0.0"
    assert "(default: 0.0.0.0)" in lines["--host"] and "default 127.0.0.1" not in lines["--host"]
    assert str(tmp_path / "xdg" / "appliance") in lines["--data-dir"]
