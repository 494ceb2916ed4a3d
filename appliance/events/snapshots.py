"""Event snapshots: the clean frame stored as JPEG; the box, its tag or a crop added when served.

Drawing matches the live stream's (appliance/pipeline/annotate.py: the same class colours
and `label 0.87` tag), re-done here because events sit below the pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from appliance.errors import ApplianceError, ImageDecodeError
from appliance.imaging import decode_image, encode_jpeg

QUALITY = 85
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_JPEG_START = b"\xff\xd8"
_MARGIN = 0.15  # a crop shows this much of the box's size around it (at least _MIN_MARGIN px)
_MIN_MARGIN = 8
_MAX_PIXELS = 100_000_000  # our own files; only a guard against a mangled header

Box = Sequence[float]  # x1, y1, x2, y2 in the frame's pixels


class SnapshotError(ApplianceError):
    """A stored snapshot that is empty or does not decode as a JPEG (a server-side fault)."""

    code = "snapshot_unreadable"


def encode_snapshot(pixels: np.ndarray, quality: int = QUALITY) -> bytes:
    """The clean BGR frame as JPEG."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or not pixels.size:
        raise ValueError(f"expected BGR uint8 pixels, got {pixels.dtype} {pixels.shape}")
    try:
        return encode_jpeg(pixels, quality)
    except ImageDecodeError as exc:
        raise SnapshotError(exc.message) from None


def render_snapshot(
    jpeg: bytes,
    box: Box,
    label: str,
    score: float,
    *,
    bbox: bool = True,
    crop: bool = False,
    class_id: int | None = None,
    quality: int = QUALITY,
) -> bytes:
    """The stored snapshot as served: with the object's box and `label 0.87` (`bbox`), and/or
    only the box and a margin around it, kept inside the frame (`crop`). `class_id` picks the
    live stream's colour for the class (a colour derived from the label without one). With
    neither asked, the stored bytes come back untouched (only their JPEG signature checked)."""
    if not jpeg:
        raise SnapshotError("the snapshot is empty")
    if not jpeg.startswith(_JPEG_START):
        raise SnapshotError("the snapshot is not a JPEG")
    if not bbox and not crop:
        return jpeg
    try:
        image, _ = decode_image(jpeg, _MAX_PIXELS)
    except ImageDecodeError as exc:  # corrupt or truncated: our file, so not the client's fault
        raise SnapshotError(f"the snapshot does not decode: {exc.message}") from None
    x1, y1, x2, y2 = _checked(box)
    if crop:
        left, top, right, bottom = crop_rect(box, image.shape[1], image.shape[0])
        image = image[top:bottom, left:right]
        x1, y1, x2, y2 = x1 - left, y1 - top, x2 - left, y2 - top
    else:
        image = image.copy()
    if bbox:
        colour = colour_for(class_id) if class_id is not None else _label_colour(label)
        draw_box(image, (x1, y1, x2, y2), f"{label} {score:.2f}", colour)
    return encode_jpeg(image, quality)


def crop_rect(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle (left, top, right, bottom; right/bottom exclusive) a crop shows:
    the box grown by a margin, clamped to the frame, at least one pixel."""
    x1, y1, x2, y2 = _checked(box)
    margin_x = max(_MIN_MARGIN, (x2 - x1) * _MARGIN)
    margin_y = max(_MIN_MARGIN, (y2 - y1) * _MARGIN)
    left = min(max(math.floor(x1 - margin_x), 0), width - 1)
    top = min(max(math.floor(y1 - margin_y), 0), height - 1)
    right = max(min(math.ceil(x2 + margin_x), width), left + 1)
    bottom = max(min(math.ceil(y2 + margin_y), height), top + 1)
    return left, top, right, bottom


def draw_box(canvas: np.ndarray, box: Box, text: str, colour: tuple[int, int, int]) -> None:
    """A box and its tag, in place, the way the live stream draws them."""
    thickness = max(1, round(min(canvas.shape[:2]) / 400))
    scale = max(0.4, min(canvas.shape[:2]) / 1200)
    p1, p2 = (int(box[0]), int(box[1])), (int(box[2]), int(box[3]))
    cv2.rectangle(canvas, p1, p2, colour, thickness + 1, cv2.LINE_AA)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    top = max(p1[1], th + base + 2)
    cv2.rectangle(canvas, (p1[0], top - th - base - 2), (p1[0] + tw + 4, top), colour, -1)
    cv2.putText(
        canvas, text, (p1[0] + 2, top - base), _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA
    )


def colour_for(class_id: int) -> tuple[int, int, int]:
    """The live stream's BGR colour for a class (golden-ratio hue steps)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _label_colour(label: str) -> tuple[int, int, int]:
    return colour_for(sum(label.encode()) % 997)  # stable across runs, unlike hash()


def _checked(box: Box) -> tuple[float, float, float, float]:
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise ValueError(f"a box is four finite numbers, got {box!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
