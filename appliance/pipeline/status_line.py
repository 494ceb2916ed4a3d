"""The status line (fps, latency) a stream writes in the top-left corner of its frames."""

from __future__ import annotations

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WIDEST = "99.9 fps  999 ms  held"  # the longest usual status line


def draw_overlay(canvas: np.ndarray, text: str) -> None:
    """Write a small status line (fps, latency) in the top-left corner, in place."""
    scale, thickness = _size(canvas.shape[:2])
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    cv2.rectangle(canvas, (0, 0), (tw + 12, th + base + 10), (0, 0, 0), -1)
    cv2.putText(canvas, text, (6, th + 5), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def status_corner(height: int, width: int) -> tuple[int, int]:
    """(width, height) in pixels of the corner the status line covers on a frame of this
    size, at its longest: what other labels keep clear of."""
    scale, thickness = _size((height, width))
    (tw, th), base = cv2.getTextSize(_WIDEST, _FONT, scale, thickness)
    return tw + 13, th + base + 11


def _size(shape: tuple[int, ...]) -> tuple[float, int]:
    scale = max(0.45, min(shape[:2]) / 1100)
    return scale, max(1, round(scale * 1.5))
