"""Test helpers: a composed scene of real photos with known object positions, assertions."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PHOTOS = {"person": "astronaut.png", "cat": "chelsea.png", "cup": "coffee.png"}


@dataclass(frozen=True)
class Scene:
    """A 1280x720 canvas holding the three photos; `where` maps label -> placed rectangle."""

    pixels: np.ndarray
    where: dict[str, tuple[int, int, int, int]]

    def jpeg(self, quality: int = 90) -> bytes:
        return cv2.imencode(".jpg", self.pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()

    def png(self) -> bytes:
        return cv2.imencode(".png", self.pixels)[1].tobytes()


def compose_scene(width: int = 1280, height: int = 720) -> Scene:
    canvas = np.full((height, width, 3), 90, dtype=np.uint8)
    where: dict[str, tuple[int, int, int, int]] = {}
    for slot, (label, name) in enumerate(PHOTOS.items()):
        photo = cv2.imread(str(DATA / name))
        scale = min(height * 0.45 / photo.shape[0], width * 0.3 / photo.shape[1])
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x, y = 40 + slot * width // 3, height // 4
        canvas[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
        where[label] = (x, y, x + photo.shape[1], y + photo.shape[0])
    return Scene(canvas, where)


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


def write_clip(path: Path, frames: int = 30, fps: float = 15.0) -> Path:
    """A short MJPG clip of the photo scene panning sideways, written with OpenCV."""
    scene = cv2.resize(compose_scene().pixels, (640, 360))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 360))
    for index in range(frames):
        writer.write(np.roll(scene, index * 4, axis=1))
    writer.release()
    return path


@dataclass
class Server:
    """`python -m appliance serve` running in a subprocess on a loopback port."""

    process: subprocess.Popen
    port: int
    log: Path
    token: str | None = None  # the initial admin token, when started with auth=True

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_server(
    workdir: Path,
    cameras: Sequence[dict] = (),
    env: dict[str, str] | None = None,
    auth: bool = False,
) -> Iterator[Server]:
    """Start the CLI as a user would, with `cameras` saved in its data dir (none: nothing
    shares the CPU with what is measured); wait until its models are warm and its cameras
    stream; SIGTERM it afterwards. Authentication is off unless `auth` (then `server.token`
    holds the initial admin token)."""
    env = {"APPLIANCE_AUTH": "1" if auth else "0", **(env or {})}
    port, log, data = free_port(), workdir / "server.log", workdir / "data"
    data.mkdir(parents=True)
    config = {"schema_version": 1, "cameras": list(cameras)}
    (data / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "appliance", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            # file:// cameras may read the clips a test or benchmark wrote beside workdir
            env={**os.environ, "APPLIANCE_MEDIA_DIRS": str(workdir.parent), **(env or {})},
        )
    server = Server(process, port, log)
    try:
        _wait_started(server, len(cameras))
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_started(server: Server, cameras: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=5) as http:
        while True:
            assert server.process.poll() is None, f"server exited early:\n{server.log_text()}"
            assert time.monotonic() < deadline, f"not started in {timeout} s:\n{server.log_text()}"
            try:
                if http.get("/readyz").status_code == 200:
                    initial = server.log.parent / "data" / "admin.token"
                    if server.token is None and initial.exists():
                        server.token = initial.read_text().strip()
                    listed = http.get("/v1/cameras", headers=server.headers).json()
                    states = [c["status"]["state"] for c in listed["cameras"]]
                    if len(states) == cameras and set(states) <= {"streaming"}:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)


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


def second_model(path: Path) -> Path:
    """A second real model: the demo network with its own metadata, so its own sha256."""
    import onnx
    from onnx import helper

    from appliance.models.demo import demo_model_path

    model = onnx.load(str(demo_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    helper.set_model_props(model, {**props, "variant": "second"})
    onnx.save(model, str(path))
    return path


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
