"""Video files of the test scene, for file:// cameras."""

from __future__ import annotations

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
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    try:
        for index in range(frames):
            writer.write(np.roll(scene, index * 4 * width // 640, axis=1))
    finally:
        writer.release()
    return path
