"""Camera streams over real sockets: `appliance serve` in a subprocess, MJPEG and WebSocket
viewers, a viewer that never reads, and a shutdown with streams open."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import pytest
import websockets
from helpers import Server, start_server, write_clip

BOUNDARY = b"--frame\r\n"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with one 15 fps file camera, started as a user would."""
    root = tmp_path_factory.mktemp("serve")
    clip = write_clip(root / "clip.avi", frames=45)
    with start_server(root, [{"id": "cam", "name": "Cam", "uri": f"file://{clip}"}]) as running:
        yield running


def read_mjpeg(url: str, parts: int, timeout: float = 20) -> tuple[list[bytes], float]:
    """Read `parts` JPEGs from a multipart stream; returns them and the seconds it took."""
    images: list[bytes] = []
    start = time.monotonic()
    with httpx.stream("GET", url, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        buffer = b""
        for chunk in response.iter_bytes():
            buffer += chunk
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if not buffer.startswith(BOUNDARY) or head_end < 0:
                    break
                length = int(buffer[:head_end].split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body_start = head_end + 4
                if len(buffer) < body_start + length + 2:
                    break
                images.append(buffer[body_start : body_start + length])
                buffer = buffer[body_start + length + 2 :]
            if len(images) >= parts:
                return images, time.monotonic() - start
    raise AssertionError("stream ended early")


def test_mjpeg_stream_is_annotated_live_video(service: Server) -> None:
    images, seconds = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg", 20)
    assert seconds < 4  # ~15 fps
    frames = [cv2.imdecode(np.frombuffer(i, np.uint8), cv2.IMREAD_COLOR) for i in images]
    assert all(f is not None and f.shape == (360, 640, 3) for f in frames)
    raw, _ = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg?annotate=0", 3)
    raw_frame = cv2.imdecode(np.frombuffer(raw[0], np.uint8), cv2.IMREAD_COLOR)
    # the annotated frames carry coloured boxes and the status line; raw ones do not
    assert float(np.abs(frames[-1].astype(int) - raw_frame.astype(int)).mean()) > 0.5


def test_mjpeg_fps_cap(service: Server) -> None:
    _, seconds = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg?fps=4", 9)
    assert seconds >= 1.8  # 9 frames at 4 fps need 2 s, not the camera's 0.6 s


def test_a_viewer_that_never_reads_slows_no_one(service: Server) -> None:
    """One WebSocket viewer never reads; another reads and keeps the camera's full rate."""

    async def rate(url: str, seconds: float) -> float:
        async with websockets.connect(url, max_size=None) as ws:
            count, start = 0, time.monotonic()
            while time.monotonic() - start < seconds:
                message = await ws.recv()
                if isinstance(message, bytes):
                    count += 1
            return count / seconds

    async def scenario() -> tuple[float, float]:
        url = f"{service.ws_url}/v1/cameras/cam/ws"
        alone = await rate(url, 3)
        async with websockets.connect(url, max_queue=1, max_size=None):  # never reads
            await asyncio.sleep(1)
            shared = await rate(url, 3)
        return alone, shared

    alone, shared = asyncio.run(scenario())
    assert alone > 10, alone
    assert shared >= 0.85 * alone, (alone, shared)
    status = httpx.get(f"{service.url}/v1/cameras/cam").json()["status"]
    assert status["fps_out"] > 10


def test_shutdown_is_prompt_with_streams_open(service: Server) -> None:
    """SIGTERM with an MJPEG viewer and a WebSocket viewer attached: a clean exit, fast.
    (Runs last in this module: it stops the service.)"""
    with httpx.stream("GET", f"{service.url}/v1/cameras/cam/stream.mjpg", timeout=10) as stream:
        next(stream.iter_bytes())
        start = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its clean shutdown, as Unix programs should
        assert service.process.wait(15) in (0, -signal.SIGTERM)
    assert time.monotonic() - start < 4, service.log_text()[-2000:]
    log = service.log_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log, log[-3000:]
