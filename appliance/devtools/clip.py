"""Video files of the test scene, for file:// cameras."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from appliance.devtools.scene import compose_scene


def write_clip(
    path: Path, frames: int = 30, fps: float = 15.0, size: tuple[int, int] = (640, 360)
) -> Path:
    """An MJPG clip of the scene panning sideways, `size` (width, height), written with OpenCV."""
    width = size[0]
    scene = cv2.resize(compose_scene().pixels, size)
    panning = (np.roll(scene, index * 4 * width // 640, axis=1) for index in range(frames))
    return write_mjpg(path, panning, fps, size)


def write_mjpg(
    path: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int] = (1280, 720)
) -> Path:
    """`frames` (BGR, `size` (width, height)) as an MJPG .avi that OpenCV reads back."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    try:
        for pixels in frames:
            writer.write(pixels)
    finally:
        writer.release()
    return path
