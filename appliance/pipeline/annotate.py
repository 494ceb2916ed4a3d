"""Drawing detections onto frames."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from appliance.domain import Detection, LineOverlay, SceneOverlay, ZoneOverlay

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def colour_for(class_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per class (golden-ratio hue steps)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_detections(
    image: np.ndarray,
    detections: Iterable[Detection],
    scene: SceneOverlay | None = None,
    *,
    carried: bool = False,
) -> np.ndarray:
    """A copy of `image` with the camera's lines and zones (when given), then a box and a
    `label 0.87` tag (`label #12 0.87` for a tracked object) for each detection. Carried
    boxes (the motion gate did not infer this frame) are thin, their tags hollow: where
    the object was last seen, not a new sighting."""
    canvas = image.copy()
    if scene is not None:
        draw_scene(canvas, scene)
    thickness = max(1, round(min(canvas.shape[:2]) / 400))
    scale = max(0.4, min(canvas.shape[:2]) / 1200)
    for d in detections:
        colour = colour_for(d.class_id)
        p1, p2 = (int(d.x1), int(d.y1)), (int(d.x2), int(d.y2))
        cv2.rectangle(canvas, p1, p2, colour, thickness + (0 if carried else 1), cv2.LINE_AA)
        name = d.label if d.track_id is None else f"{d.label} #{d.track_id}"
        text = f"{name} {d.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
        top = max(p1[1], th + base + 2)
        tag = (p1[0], top - th - base - 2), (p1[0] + tw + 4, top)
        cv2.rectangle(canvas, *tag, _HOLLOW if carried else colour, -1)
        ink = colour if carried else (0, 0, 0)
        at = (p1[0] + 2, top - base)
        cv2.putText(canvas, text, at, _FONT, scale, ink, thickness, cv2.LINE_AA)
    return canvas


_HOLLOW = (40, 40, 40)  # BGR: a carried box's tag, dark so its text keeps the class colour


def draw_overlay(canvas: np.ndarray, text: str) -> None:
    """Write a small status line (fps, latency) in the top-left corner, in place."""
    scale = max(0.45, min(canvas.shape[:2]) / 1100)
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    cv2.rectangle(canvas, (0, 0), (tw + 12, th + base + 10), (0, 0, 0), -1)
    cv2.putText(canvas, text, (6, th + 5), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


_LINE_COLOUR = (0, 215, 255)  # BGR amber: stands out from the class colours' boxes
_ZONE_COLOUR = (255, 160, 60)  # BGR light blue
_ZONE_TINT = 0.3


def draw_scene(canvas: np.ndarray, overlay: SceneOverlay) -> None:
    """Draw counting lines (with their `in` arrow and totals) and zones (tinted while
    occupied) onto `canvas`, in place, under the boxes drawn after."""
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 360))
    scale = max(0.4, min(height, width) / 1200)
    for zone in overlay.zones:
        _draw_zone(canvas, zone, width, height, thickness, scale)
    for line in overlay.lines:
        _draw_line(canvas, line, width, height, thickness, scale)


def _draw_zone(
    canvas: np.ndarray, zone: ZoneOverlay, width: int, height: int, thickness: int, scale: float
) -> None:
    polygon = np.array([(x * width, y * height) for x, y in zone.points], dtype=np.int32)
    if zone.occupied:
        # tint only the polygon's bounding box: blending the whole frame costs ms per frame
        x, y, w, h = cv2.boundingRect(polygon)
        roi = canvas[y : y + h, x : x + w]
        if roi.size:
            tinted = roi.copy()
            cv2.fillPoly(tinted, [polygon - (x, y)], _ZONE_COLOUR)
            cv2.addWeighted(tinted, _ZONE_TINT, roi, 1 - _ZONE_TINT, 0, dst=roi)
    cv2.polylines(canvas, [polygon], True, _ZONE_COLOUR, thickness, cv2.LINE_AA)
    anchor = polygon[np.argmin(polygon[:, 1])]
    _tag(canvas, f"{zone.name}: {zone.occupied}", (int(anchor[0]), int(anchor[1])), scale)


def _draw_line(
    canvas: np.ndarray, line: LineOverlay, width: int, height: int, thickness: int, scale: float
) -> None:
    (ax, ay), (bx, by) = ((x * width, y * height) for x, y in line.points)
    cv2.line(canvas, (int(ax), int(ay)), (int(bx), int(by)), _LINE_COLOUR, thickness + 1)
    # the `in` side is the normal (dy, -dx): an arrow from the middle towards it
    dx, dy = bx - ax, by - ay
    length = max((dx * dx + dy * dy) ** 0.5, 1.0)
    reach = min(height, width) / 18
    mx, my = (ax + bx) / 2, (ay + by) / 2
    tip = (int(mx + dy / length * reach), int(my - dx / length * reach))
    cv2.arrowedLine(
        canvas, (int(mx), int(my)), tip, _LINE_COLOUR, thickness + 1, cv2.LINE_AA, tipLength=0.3
    )
    text = f"{line.name}  in {line.inward}  out {line.outward}"
    _tag(canvas, text, (int(min(ax, bx)), int(min(ay, by))), scale)


def _tag(canvas: np.ndarray, text: str, at: tuple[int, int], scale: float) -> None:
    """A small dark label with its bottom-left corner at `at`, kept on the canvas."""
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    x = min(max(at[0], 0), max(canvas.shape[1] - tw - 6, 0))
    y = min(max(at[1], th + base + 4), canvas.shape[0] - 1)
    cv2.rectangle(canvas, (x, y - th - base - 4), (x + tw + 6, y), (30, 30, 30), -1)
    cv2.putText(canvas, text, (x + 3, y - base - 1), _FONT, scale, (255, 255, 255), thickness)
