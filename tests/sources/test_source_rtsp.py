"""RTSP through OpenCV's FFmpeg backend, against a real GStreamer RTSP server on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import SourceError
from appliance.sources import FrameSource, SourceOptions, open_source

SERVER = Path(__file__).resolve().parents[1] / "support" / "rtsp_server.py"
PROBE = "import gi; gi.require_version('GstRtspServer', '1.0')"


def _server_available() -> bool:
    probe = subprocess.run(["/usr/bin/python3", "-c", PROBE], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not _server_available(),
    reason="GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) not installed",
)


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        ["/usr/bin/python3", str(SERVER), str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process, port
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_reads_a_live_stream_and_times_out_when_it_freezes(server) -> None:
    """Frames arrive over TCP; SIGSTOP the server and a read fails within its timeout."""
    process, port = server
    uri = f"rtsp://viewer:hunter2@127.0.0.1:{port}/test"
    source = open_source(uri, SourceOptions(open_timeout_s=5, read_timeout_s=1))
    assert "hunter2" not in source.uri
    try:
        source.open()
        frames = [source.read() for _ in range(5)]
        assert all(frame.shape == (360, 640, 3) for frame in frames)
        assert source.nominal_fps == pytest.approx(15, abs=1)
        process.send_signal(signal.SIGSTOP)
        start = time.monotonic()
        error = _first_error(source, reads=100)  # what FFmpeg had buffered comes first
        assert time.monotonic() - start < 6  # OpenCV's default would wait 30 s
        assert "no frame from rtsp://viewer:***@127.0.0.1" in error.message
    finally:
        source.close()


def _first_error(source: FrameSource, reads: int) -> SourceError:
    for _ in range(reads):
        try:
            source.read()
        except SourceError as exc:
            return exc
    raise AssertionError(f"{reads} reads from a frozen stream and no error")
