"""The motion gate's last minute on the camera page: the share of frames inferred, motion
events per minute, and whether the camera sees motion now (the frame shown "held": not
inferred, its boxes carried from the last inferred one)."""

from __future__ import annotations

from nicegui import ui

from appliance.services.cameras import CameraView
from appliance.services.live import LiveFrame
from ui import formatting

GATE_OFF = "Motion gate off: every frame inferred"


def gate_text(view: CameraView) -> str:
    """The gate's figures in one line."""
    gate = view.gate
    if gate is None:
        return GATE_OFF if not view.config.motion.enabled else "Motion gate on: camera not running"
    if gate.inferred_share is None:
        return "Motion gate on: no frames yet"
    return (
        f"{formatting.percent(gate.inferred_share * 100)} of frames inferred (last minute) · "
        f"{gate.motion_events_per_min:.1f} motion events/min"
    )


def now_text(view: CameraView, frame: LiveFrame | None) -> str:
    """Moving or still now, and whether the frame shown was held; "" with no gate."""
    if view.gate is None:
        return ""
    held = " · frame held" if frame is not None and frame.carried else ""
    return ("moving now" if view.gate.moving else "still now") + held


class MotionFacts:
    def __init__(self) -> None:
        with ui.card().classes("w-full gap-1").mark("motion-facts"):
            with ui.row().classes("items-center gap-2"):
                ui.label("Motion").classes("font-medium")
                self.now = ui.badge("").mark("motion-now")
            self.text = ui.label().classes("text-sm").mark("motion-telemetry")

    def update(self, view: CameraView, frame: LiveFrame | None) -> None:
        self.text.set_text(gate_text(view))
        now = now_text(view, frame)
        self.now.set_text(now)
        self.now.set_visibility(bool(now))
        moving = view.gate is not None and view.gate.moving
        self.now.props(f"color={'orange' if moving else 'grey'}")
