"""The live view's Motion switch: while on, the regions that moved in each frame shown are
drawn over the picture (with the camera's masks). Disabled, saying why, while the camera's
motion gate is off: its frames carry no motion then."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from appliance.services.cameras import CameraView
from appliance.services.live import LiveFrame
from ui.components.live_view import LiveView
from ui.motion_svg import motion_svg

OFF_TIP = "The motion gate is off for this camera: turn it on in its settings (Motion)"
ON_TIP = "Show what moves: the motion gate's regions and masks"


class MotionToggle:
    def __init__(self, live: LiveView) -> None:
        self._live = live
        self.on_toggle: Callable[[bool], None] | None = None  # e.g. show the masks too
        with ui.element("div") as wrap:  # a disabled switch shows no tooltip: its box does
            self.switch = ui.switch("Motion", on_change=lambda e: self._toggled(bool(e.value)))
            self.switch.mark("motion-toggle")
            self.tip = ui.tooltip(ON_TIP)
        wrap.mark("motion-toggle-box")
        live.on_frame(self._draw)

    def follow(self, view: CameraView) -> None:
        """Enabled while the camera's gate is on; turned off with it."""
        gate_on = view.config.motion.enabled
        if not gate_on and self.switch.value:
            self.switch.set_value(False)
        self.switch.set_enabled(gate_on)
        self.tip.set_text(ON_TIP if gate_on else OFF_TIP)

    def _toggled(self, on: bool) -> None:
        if self.on_toggle is not None:
            self.on_toggle(on)
        if on and self._live.frame is not None:
            self._draw(self._live.frame)
        else:
            self._live.set_layer("motion", "")

    def _draw(self, frame: LiveFrame) -> None:
        if not self.switch.value:
            return
        regions = frame.motion or ()
        self._live.set_layer("motion", motion_svg(regions, frame.result.width, frame.result.height))
