"""Camera streams over real sockets: `appliance serve` in a subprocess, MJPEG and WebSocket
viewers, a viewer that never reads, and a shutdown with streams open."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import websockets
from helpers import write_clip

BOUNDARY = b"--frame\r\n"


class Service:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service with one 15 fps file camera, started as a user would."""
    root = tmp_path_factory.mktemp("serve")
    clip = write_clip(root / "clip.avi", frames=45)
    data = root / "data"
    data.mkdir()
    camera = {"id": "cam", "name": "Cam", "uri": f"file://{clip}"}
    (data / "config.json").write_text(json.dumps({"schema_version": 1, "cameras": [camera]}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log = root / "service.log"
    command = [
        sys.executable,
        "-m",
        "appliance",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    running = Service(process, port, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            state = httpx.get(f"{running.url}/v1/cameras/cam", timeout=2).json()["status"]["state"]
            if state == "streaming":
                break
        except (httpx.TransportError, KeyError):
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(10)


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


def test_mjpeg_stream_is_annotated_live_video(service: Service) -> None:
    images, seconds = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg", 20)
    assert seconds < 4  # ~15 fps
    frames = [cv2.imdecode(np.frombuffer(i, np.uint8), cv2.IMREAD_COLOR) for i in images]
    assert all(f is not None and f.shape == (360, 640, 3) for f in frames)
    raw, _ = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg?annotate=0", 3)
    raw_frame = cv2.imdecode(np.frombuffer(raw[0], np.uint8), cv2.IMREAD_COLOR)
    # the annotated frames carry coloured boxes and the status line; raw ones do not
    assert float(np.abs(frames[-1].astype(int) - raw_frame.astype(int)).mean()) > 0.5


def test_mjpeg_fps_cap(service: Service) -> None:
    _, seconds = read_mjpeg(f"{service.url}/v1/cameras/cam/stream.mjpg?fps=4", 9)
    assert seconds >= 1.8  # 9 frames at 4 fps need 2 s, not the camera's 0.6 s


def test_a_viewer_that_never_reads_slows_no_one(service: Service) -> None:
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
        url = f"{service.ws}/v1/cameras/cam/ws"
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


def test_shutdown_is_prompt_with_streams_open(service: Service) -> None:
    """SIGTERM with an MJPEG viewer and a WebSocket viewer attached: a clean exit, fast.
    (Runs last in this module: it stops the service.)"""
    with httpx.stream("GET", f"{service.url}/v1/cameras/cam/stream.mjpg", timeout=10) as stream:
        next(stream.iter_bytes())
        start = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its clean shutdown, as Unix programs should
        assert service.process.wait(15) in (0, -signal.SIGTERM)
    assert time.monotonic() - start < 4, service.log.read_text()[-2000:]
    log = service.log.read_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log, log[-3000:]
