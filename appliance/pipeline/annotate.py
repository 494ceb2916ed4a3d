"""Drawing detections onto frames."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from appliance.domain import Detection, SceneOverlay
from appliance.pipeline.scene_layer import SceneLayers, draw_scene

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
    layers: SceneLayers | None = None,
) -> np.ndarray:
    """A copy of `image` with the camera's lines and zones (when given), then a box and a
    `label 0.87` tag (`label #12 0.87` for a tracked object) for each detection. Carried
    boxes (the motion gate did not infer this frame) are thin, their tags hollow: where
    the object was last seen, not a new sighting. A stream passes its `layers`, so the
    lines and zones are rendered once, not on every frame."""
    canvas = image.copy()
    if scene is not None and (scene.lines or scene.zones):
        if layers is not None:
            layers.draw(canvas, scene)
        else:
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
