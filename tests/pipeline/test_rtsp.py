"""A camera on a real RTSP server (GStreamer, loopback) that dies, freezes and comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import free_port, write_clip
from test_pipeline import file_worker, wait_until

from appliance.domain import CameraState
from appliance.pipeline.camera import Backoff, CameraWorker
from appliance.sources import SourceOptions, open_source

SERVER = Path(__file__).resolve().parents[1] / "support" / "rtsp_server.py"
PROBE = (
    "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
)


def _server_available() -> bool:
    probe = subprocess.run(["/usr/bin/python3", "-c", PROBE], capture_output=True, check=False)
    return probe.returncode == 0


# CI installs the server's Debian packages, so there a missing server fails loudly.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not _server_available(),
    reason="GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) not installed",
)


class RtspServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/bin/python3", str(SERVER), str(self.port)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)


@pytest.fixture
def server() -> Iterator[RtspServer]:
    running = RtspServer(free_port())
    running.start()
    yield running
    running.kill()


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


def test_camera_reconnects_after_the_server_dies(server: RtspServer, tmp_path: Path) -> None:
    """Kill the server mid-stream: the camera reconnects while another camera keeps going;
    restart it: frames resume, no restart of anything else needed."""
    states: list[CameraState] = []
    camera = rtsp_worker(server.uri, states)
    other = file_worker(write_clip(tmp_path / "c.avi"), "other")
    camera.start()
    other.start()
    try:
        wait_until(lambda: camera.state is CameraState.STREAMING, 20)
        frames_grow(camera)
        server.kill()
        wait_until(lambda: camera.state in (CameraState.RECONNECTING, CameraState.STARTING), 10)
        frames_grow(other, by=15)  # the other camera does not notice
        assert camera.state is not CameraState.STREAMING
        server.start()
        wait_until(lambda: camera.state is CameraState.STREAMING, 30)
        frames_grow(camera)
        assert camera.status().reconnects >= 1
    finally:
        camera.stop()
        other.stop()
    assert CameraState.RECONNECTING in states and states[-1] is CameraState.STOPPED


def test_a_frozen_stream_is_stalled_then_reconnected(server: RtspServer) -> None:
    """SIGSTOP the server: no frames but an open socket. The camera is marked stalled, then
    its read times out and it reconnects; SIGCONT: it streams again."""
    states: list[CameraState] = []
    camera = rtsp_worker(server.uri, states)
    camera.start()
    watching = _watch_stalls(camera)
    try:
        wait_until(lambda: camera.state is CameraState.STREAMING, 20)
        server.signal(signal.SIGSTOP)
        wait_until(lambda: CameraState.STALLED in states, 10)
        wait_until(lambda: CameraState.RECONNECTING in states, 15)
        server.signal(signal.SIGCONT)
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
