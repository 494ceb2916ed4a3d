"""Test helpers: assertions, the RTSP test server, and (from appliance.devtools, which the
benchmarks share) the scene of real photos, clips, a second model and the real server."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import httpx

from appliance.devtools.clip import write_clip
from appliance.devtools.models import second_model
from appliance.devtools.scene import Scene, compose_scene
from appliance.devtools.server import Server, free_port, start_server

__all__ = [  # the shared generators, re-exported so tests import them from one place
    "Scene",
    "Server",
    "compose_scene",
    "free_port",
    "second_model",
    "start_server",
    "write_clip",
]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PHOTOS = {"person": "astronaut.png", "cat": "chelsea.png", "cup": "coffee.png"}


async def wait_ready(http: httpx.AsyncClient, timeout_s: float = 60) -> None:
    with anyio.fail_after(timeout_s):
        while (await http.get("/readyz")).status_code != 200:
            await anyio.sleep(0.05)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The standard error body, with the request id echoed in the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body


def inside(box: object, rect: tuple[int, int, int, int]) -> bool:
    """Whether a detection box (a dict or a Detection) lands on a placed photo: its centre is
    in the photo and at least three quarters of its area overlaps it."""
    get = box.get if isinstance(box, dict) else lambda k: getattr(box, k)
    x1, y1, x2, y2 = (float(get(k)) for k in ("x1", "y1", "x2", "y2"))
    rx1, ry1, rx2, ry2 = rect
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if not (rx1 <= cx <= rx2 and ry1 <= cy <= ry2):
        return False
    overlap = max(0.0, min(x2, rx2) - max(x1, rx1)) * max(0.0, min(y2, ry2) - max(y1, ry1))
    return overlap >= 0.75 * (x2 - x1) * (y2 - y1)


Rects = dict[str, tuple[int, int, int, int]]


def assert_finds_scene(body: dict, where: Rects, min_conf: float = 0.4) -> None:
    """Each photo is found where it was placed, and no label's box sits on another photo."""
    detections = body["detections"]
    assert set(where) <= {d["label"] for d in detections}, detections
    for label, rect in where.items():
        assert any(
            d["label"] == label and d["confidence"] >= min_conf and inside(d["box"], rect)
            for d in detections
        ), f"no {label} inside {rect}: {detections}"
        for d in detections:
            if d["label"] == label:
                for other, other_rect in where.items():
                    if other != label:
                        assert not inside(d["box"], other_rect), (label, d, other)


RTSP_SERVER = Path(__file__).resolve().parent / "support" / "rtsp_server.py"
_RTSP_PROBE = "import gi; gi.require_version('GstRtspServer', '1.0')"


def rtsp_server_available() -> bool:
    """Whether Debian's python3-gi with GStreamer's RTSP server is installed. CI installs it,
    so there (CI set) a missing server must fail the tests, not skip them."""
    if os.environ.get("CI"):
        return True
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", _RTSP_PROBE], capture_output=True, check=False
    )
    return probe.returncode == 0


class RtspServer:
    """tests/support/rtsp_server.py in a subprocess: a live H.264 stream on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/bin/python3", str(RTSP_SERVER), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server must die too
            self.process.kill()
            self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None
