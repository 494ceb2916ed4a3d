"""The camera form's Motion part: the motion gate's switch and numbers. Masks are drawn on
the camera page, not here: the form keeps whatever masks the camera has when it saves."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from appliance.config import MaskConfig, MotionConfig

PERCENT = 100  # min_area is a share of the frame; the form shows it in %


class MotionSettings:
    """Widgets for a camera's `motion` settings, inside a collapsed section."""

    def __init__(self, current: MotionConfig | None) -> None:
        motion = current or MotionConfig()
        with ui.expansion("Motion", icon="directions_run").classes("w-full").mark("camera-motion"):
            with ui.row().classes("w-full items-center gap-2"):
                self.enabled = ui.switch("Infer only what moves", value=motion.enabled)
                self.enabled.mark("motion-enabled")
                _hint("off: every frame goes to the detector")
            with ui.row().classes("w-full gap-3 no-wrap"):
                self.threshold = _number("Threshold", motion.threshold, 1, 255, 1, "threshold")
                area = round(motion.min_area * PERCENT, 4)
                self.min_area = _number("Min area", area, 0, 100, 0.01, "min-area")
                self.min_area.props('suffix="%"')
                self.idle_fps = _number("Idle fps", motion.idle_fps, 0.01, 120, 0.1, "idle-fps")
                self.tracked_fps = _number(
                    "Tracked fps", motion.tracked_fps, 0.01, 120, 0.5, "tracked-fps"
                )
            _hint(
                "Threshold: grey levels a pixel must change by (1-255). Min area: how much of "
                "the frame a moving region must cover. Idle fps: frames inferred while "
                "nothing moves; tracked fps: while objects stand in view. Draw masks over "
                "what moves but never matters (a clock, a tree) on the camera's page."
            )

    def values(self, masks: list[MaskConfig]) -> dict[str, Any]:
        """The `motion` settings to save, with `masks` (the camera's, kept as they are)."""
        area, threshold = self.min_area.value, self.threshold.value
        return {
            "enabled": bool(self.enabled.value),
            "threshold": None if threshold is None else round(threshold),
            "min_area": None if area is None else round(area / PERCENT, 8),
            "idle_fps": self.idle_fps.value,
            "tracked_fps": self.tracked_fps.value,
            "masks": [mask.model_dump() for mask in masks],
        }


def _number(label: str, value: float, low: float, high: float, step: float, key: str) -> ui.number:
    field = ui.number(label, value=value, min=low, max=high, step=step).classes("flex-1")
    return field.mark(f"motion-{key}")


def _hint(text: str) -> None:
    ui.label(text).classes("text-xs text-gray-500")
