"""Test helpers: a composed scene of real photos with known object positions, assertions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import cv2
import httpx
import numpy as np

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
