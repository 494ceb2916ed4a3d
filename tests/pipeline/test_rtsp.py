"""A camera on a real RTSP server (GStreamer, loopback) that dies, freezes and comes back."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import RtspServer, rtsp_server_available, write_clip
from test_pipeline import file_worker, wait_until

from appliance.domain import CameraState
from appliance.pipeline.camera import Backoff, CameraWorker
from appliance.sources import SourceOptions, open_source

pytestmark = pytest.mark.skipif(
    not rtsp_server_available(), reason="GStreamer RTSP server (python3-gi) not installed"
)


def rtsp_worker(uri: str, states: list[CameraState]) -> CameraWorker:
    options = SourceOptions(open_timeout_s=3, read_timeout_s=3)
    return CameraWorker(
        "rtsp",
        lambda: open_source(uri, options),
        stall_after_s=1.0,
        backoff=Backoff(initial_s=0.2, max_s=1.0),
        on_state=lambda _id, state, _reason: states.append(state),
    )


def frames_grow(worker: CameraWorker, by: int = 5, timeout: float = 15) -> None:
    start = worker.status().frames
    wait_until(lambda: worker.status().frames >= start + by, timeout)


def test_camera_reconnects_after_the_server_dies(rtsp_server: RtspServer, tmp_path: Path) -> None:
    """Kill the server mid-stream: the camera reconnects while another camera keeps going;
    restart it: frames resume, no restart of anything else needed."""
    states: list[CameraState] = []
    camera = rtsp_worker(rtsp_server.uri, states)
    other = file_worker(write_clip(tmp_path / "c.avi"), "other")
    camera.start()
    other.start()
    try:
        wait_until(lambda: camera.state is CameraState.STREAMING, 20)
        frames_grow(camera)
        rtsp_server.kill()
        wait_until(lambda: camera.state in (CameraState.RECONNECTING, CameraState.STARTING), 10)
        frames_grow(other, by=15)  # the other camera does not notice
        assert camera.state is not CameraState.STREAMING
        rtsp_server.start()
        wait_until(lambda: camera.state is CameraState.STREAMING, 30)
        frames_grow(camera)
        assert camera.status().reconnects >= 1
    finally:
        camera.stop()
        other.stop()
    assert CameraState.RECONNECTING in states and states[-1] is CameraState.STOPPED


def test_a_frozen_stream_is_stalled_then_reconnected(rtsp_server: RtspServer) -> None:
    """SIGSTOP the server: no frames but an open socket. The camera is marked stalled, then
    its read times out and it reconnects; SIGCONT: it streams again."""
    states: list[CameraState] = []
    camera = rtsp_worker(rtsp_server.uri, states)
    camera.start()
    watching = _watch_stalls(camera)
    try:
        wait_until(lambda: camera.state is CameraState.STREAMING, 20)
        rtsp_server.signal(signal.SIGSTOP)
        wait_until(lambda: CameraState.STALLED in states, 10)
        wait_until(lambda: CameraState.RECONNECTING in states, 15)
        rtsp_server.signal(signal.SIGCONT)
        wait_until(
            lambda: (
                camera.state is CameraState.STREAMING and states.count(CameraState.STREAMING) >= 2
            ),
            30,
        )
    finally:
        watching()
        camera.stop()


def _watch_stalls(worker: CameraWorker) -> Callable[[], None]:
    """What the camera service does: call check_stall() a few times a second."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            worker.check_stall()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join(2)

    return end
