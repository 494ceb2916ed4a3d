"""The demo scene: real photos of a person, a cat and a cup gliding over a gradient.

Every frame is a pure function of its index, so tests and screenshots are reproducible. The
photos stay 275-380 px tall on a 1280x720 canvas: big enough for YOLOv3-tiny at 416x416.
Like a real camera's scene, it is still most of the time: the photos glide for MOVE_S
seconds, then rest for REST_S (only the caption changes), so the motion gate has something
to show and a first run on a laptop does not keep its fans going.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from appliance.errors import SourceError

REFERENCE_HEIGHT = 720  # sizes below are pixels on a 720-pixel-tall canvas
MOVE_S, REST_S = 10.0, 20.0
CAPTION_MASK = ((0.0, 0.93), (0.5, 0.93), (0.5, 1.0), (0.0, 1.0))  # the changing caption
_TOP, _BOTTOM = (64, 44, 38), (156, 132, 118)  # BGR: dark slate to grey-blue
_BORDER, _SHADOW = 5, 12


@dataclass(frozen=True)
class Actor:
    """One photo and its path: a Lissajous curve (fractions of the canvas) and a slow zoom."""

    asset: str
    height: float  # pixels at zoom 1
    centre: tuple[float, float]
    swing: tuple[float, float]
    periods: tuple[float, float, float]  # seconds: x, y, zoom
    phases: tuple[float, float, float]
    zoom: float = 0.08  # ± this fraction of `height`

    def place(self, t: float, width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the photo at time `t`, kept inside the canvas."""
        waves = zip(self.periods, self.phases, strict=True)
        px, py, pz = (2 * math.pi * t / period + phase for period, phase in waves)
        h = round(self.height * (1 + self.zoom * math.sin(pz)) * height / REFERENCE_HEIGHT)
        w = round(h * aspect)
        cx = (self.centre[0] + self.swing[0] * math.sin(px)) * width
        cy = (self.centre[1] + self.swing[1] * math.sin(py)) * height
        x = min(max(round(cx - w / 2), 0), max(width - w, 0))
        y = min(max(round(cy - h / 2), 0), max(height - h, 0))
        return x, y, w, h


# Back to front. Periods are unrelated so the picture does not repeat for many minutes.
ACTORS = (
    Actor("coffee.jpg", 300, (0.78, 0.30), (0.04, 0.07), (15.0, 9.0, 29.0), (4.0, 3.0, 1.0)),
    Actor("astronaut.jpg", 350, (0.17, 0.36), (0.04, 0.07), (17.0, 11.0, 23.0), (0.0, 1.0, 2.0)),
    Actor("chelsea.jpg", 340, (0.52, 0.70), (0.10, 0.05), (13.0, 7.5, 19.0), (2.0, 0.0, 4.0)),
)


class DemoScene:
    """Renders frame `index` of the animation at `fps` on a `width` x `height` canvas."""

    def __init__(self, photos: dict[str, np.ndarray], width: int, height: int, fps: float):
        self.width, self.height, self.fps = width, height, fps
        self._photos = photos
        self._background = _gradient(width, height)
        self._still: tuple[float, np.ndarray] | None = None  # (scene time, canvas): rests

    @classmethod
    def load(cls, width: int = 1280, height: int = 720, fps: float = 15.0) -> DemoScene:
        return cls({actor.asset: load_asset(actor.asset) for actor in ACTORS}, width, height, fps)

    def render(self, index: int) -> np.ndarray:
        t = index / self.fps
        scene_t = scene_time(t)
        still = self._still
        if still is not None and still[0] == scene_t:
            canvas = still[1].copy()  # resting: the same picture, a new caption
        else:
            canvas = self._background.copy()
            for actor in ACTORS:
                photo = self._photos[actor.asset]
                aspect = photo.shape[1] / photo.shape[0]
                rect = actor.place(scene_t, self.width, self.height, aspect)
                _paste(canvas, photo, rect)
            self._still = (scene_t, canvas.copy())
        _caption(canvas, f"demo://  frame {index}  t={t:7.2f}s")
        return canvas


def scene_time(t: float) -> float:
    """Where the photos are at time `t`: their clock runs for MOVE_S, stops for REST_S."""
    cycles, into = divmod(t, MOVE_S + REST_S)
    return cycles * MOVE_S + min(into, MOVE_S)


def load_asset(name: str) -> np.ndarray:
    """A packaged photo as BGR pixels."""
    data = (resources.files(__package__) / "assets" / name).read_bytes()
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise SourceError(f"the demo asset {name} does not decode")
    return pixels


def _gradient(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    column = (1 - ramp) * np.array(_TOP, np.float32) + ramp * np.array(_BOTTOM, np.float32)
    return np.repeat(column[:, None, :], width, axis=1).astype(np.uint8)


def _paste(canvas: np.ndarray, photo: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """Draw a photo print: a soft shadow, a white border, the photo."""
    x, y, w, h = rect
    shadow = _clip(canvas, x + _SHADOW, y + _SHADOW, w, h)
    cv2.convertScaleAbs(shadow, dst=shadow, alpha=0.55)
    _clip(canvas, x - _BORDER, y - _BORDER, w + 2 * _BORDER, h + 2 * _BORDER)[:] = 245
    interpolation = cv2.INTER_AREA if h < photo.shape[0] else cv2.INTER_LINEAR
    resized = cv2.resize(photo, (w, h), interpolation=interpolation)
    area = _clip(canvas, x, y, w, h)
    area[:] = resized[: area.shape[0], : area.shape[1]]


def _clip(canvas: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """The part of rectangle (x, y, w, h) that lies on the canvas, as a view."""
    x0, y0 = max(x, 0), max(y, 0)
    return canvas[y0 : max(y + h, y0), x0 : max(x + w, x0)]


def _caption(canvas: np.ndarray, text: str) -> None:
    unit = canvas.shape[0] / REFERENCE_HEIGHT
    origin = (round(12 * unit), canvas.shape[0] - round(14 * unit))
    font, colour = cv2.FONT_HERSHEY_SIMPLEX, (235, 235, 235)
    cv2.putText(canvas, text, origin, font, 0.6 * unit, colour, 1, cv2.LINE_AA)
