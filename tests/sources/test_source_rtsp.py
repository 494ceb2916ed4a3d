"""RTSP through OpenCV's FFmpeg backend, against a real GStreamer RTSP server on loopback."""

from __future__ import annotations

import signal
import time

import pytest
from helpers import RtspServer, rtsp_server_available

from appliance.errors import SourceError
from appliance.sources import FrameSource, SourceOptions, open_source

pytestmark = pytest.mark.skipif(
    not rtsp_server_available(), reason="GStreamer RTSP server (python3-gi) not installed"
)


def test_reads_a_live_stream_and_times_out_when_it_freezes(rtsp_server: RtspServer) -> None:
    """Frames arrive over TCP; SIGSTOP the server and a read fails within its timeout."""
    uri = f"rtsp://viewer:hunter2@127.0.0.1:{rtsp_server.port}/test"
    source = open_source(uri, SourceOptions(open_timeout_s=5, read_timeout_s=1))
    assert "hunter2" not in source.uri
    try:
        source.open()
        frames = [source.read() for _ in range(5)]
        assert all(frame.shape == (360, 640, 3) for frame in frames)
        assert source.nominal_fps == pytest.approx(15, abs=1)
        rtsp_server.signal(signal.SIGSTOP)
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
