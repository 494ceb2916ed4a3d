"""The test scene: the packaged demo photos side by side, at known places.

The photos are the demo scene's (appliance/sources/assets, licences in its NOTICE): the demo
model finds a person, a cat and a cup in them, and `where` says where each should be found.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from appliance.sources.demo_scene import load_asset

ASSETS = {"person": "astronaut.jpg", "cat": "chelsea.jpg", "cup": "coffee.jpg"}
Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """A canvas holding the three photos; `where`: label -> placed rectangle (x1, y1, x2, y2)."""

    pixels: np.ndarray
    where: dict[str, Rect]

    def jpeg(self, quality: int = 90) -> bytes:
        return cv2.imencode(".jpg", self.pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()

    def png(self) -> bytes:
        return cv2.imencode(".png", self.pixels)[1].tobytes()


def compose_scene(width: int = 1280, height: int = 720) -> Scene:
    """The photos in three columns on a grey canvas, each at most 45 % of its height."""
    canvas = np.full((height, width, 3), 90, dtype=np.uint8)
    where: dict[str, Rect] = {}
    for slot, (label, asset) in enumerate(ASSETS.items()):
        photo = load_asset(asset)
        scale = min(height * 0.45 / photo.shape[0], width * 0.3 / photo.shape[1])
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x, y = 40 + slot * width // 3, height // 4
        canvas[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
        where[label] = (x, y, x + photo.shape[1], y + photo.shape[0])
    return Scene(canvas, where)
