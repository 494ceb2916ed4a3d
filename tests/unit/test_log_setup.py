"""Logging set-up as the CLI does it, in a fresh interpreter (it configures the process):
stdlib records reach loguru's sink at the chosen level, and uvicorn's per-message trace
middleware is only there when TRACE is asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import logging, sys
import uvicorn
from uvicorn.middleware.message_logger import MessageLoggerMiddleware
from appliance.logging import setup_logging

async def app(scope, receive, send):
    pass

setup_logging(sys.argv[1])
logging.getLogger("uvicorn.error").info("an info record")
logging.getLogger("uvicorn.error").debug("a debug record")
config = uvicorn.Config(app, log_config=None)
config.load()
wrapped, layers = config.loaded_app, []
while wrapped is not None:
    layers.append(type(wrapped).__name__)
    wrapped = getattr(wrapped, "app", None)
print(" ".join(layers))
"""


@pytest.mark.parametrize(
    ("level", "traced", "debug_shown"),
    [("INFO", False, False), ("DEBUG", False, True), ("TRACE", True, True)],
)
def test_stdlib_records_follow_the_level_and_uvicorn_traces_only_at_trace(
    level: str, traced: bool, debug_shown: bool
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, level], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert ("MessageLoggerMiddleware" in result.stdout) is traced, result.stdout
    assert "an info record" in result.stderr
    assert ("a debug record" in result.stderr) is debug_shown
