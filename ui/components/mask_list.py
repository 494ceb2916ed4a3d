"""A camera's motion masks: listed as "mask 1", "mask 2"… (the configuration keeps a plain
list) with Delete, and drawn over the live picture, dark and hatched with their numbers,
while something on the page asks for them (a mask being drawn, the motion overlay). The
camera's configuration is the truth: the list follows it every second, and every change
saves the camera's whole `motion` settings with the new list."""

from __future__ import annotations

from nicegui import ui

from appliance.auth.scopes import Scope
from appliance.config import MaskConfig
from appliance.errors import InvalidInputError, NotFoundError
from appliance.services.cameras import CameraService, CameraView
from ui import session
from ui.components.live_view import LiveView
from ui.context import Dashboard
from ui.feedback import run_action
from ui.motion_svg import masks_svg
from ui.scene_draft import MASK_COLOUR

REFRESH_S = 1.0


async def add_mask(cameras: CameraService, camera_id: str, mask: MaskConfig) -> CameraView:
    """Append `mask` to the camera's masks as they are now."""
    masks = cameras.get(camera_id).config.motion.masks
    return await _save_masks(cameras, camera_id, [*masks, mask])


async def remove_mask(cameras: CameraService, camera_id: str, mask: MaskConfig) -> CameraView:
    """Remove `mask` from the camera's masks (InvalidInputError: it is no longer there)."""
    masks = list(cameras.get(camera_id).config.motion.masks)
    if mask not in masks:
        raise InvalidInputError("that mask was changed or deleted meanwhile")
    masks.remove(mask)
    return await _save_masks(cameras, camera_id, masks)


async def _save_masks(
    cameras: CameraService, camera_id: str, masks: list[MaskConfig]
) -> CameraView:
    """Keep the camera's other motion settings, replace its masks (a PATCH of `motion`)."""
    motion = cameras.get(camera_id).config.motion.model_dump()
    motion["masks"] = [mask.model_dump() for mask in masks]
    return await cameras.update(camera_id, {"motion": motion})


class MaskList:
    def __init__(self, dash: Dashboard, live: LiveView) -> None:
        self._dash, self._live = dash, live
        self._cameras: CameraService = dash.services.cameras
        self._allowed = session.can(dash, Scope.OPERATOR)
        self.masks: list[MaskConfig] = []
        self._shown: list[MaskConfig] | None = None  # what the rows show
        self._wanted_by: set[str] = set()  # who asks for the masks on the picture
        self.root = ui.column().classes("w-full gap-1").mark("masks")
        self.update()
        ui.timer(REFRESH_S, self.update)

    def show(self, reason: str, on: bool) -> None:
        """Draw the masks over the picture while any `reason` holds."""
        if on:
            self._wanted_by.add(reason)
        else:
            self._wanted_by.discard(reason)
        self._draw()

    def update(self) -> None:
        try:
            self.masks = list(self._cameras.get(self._live.camera_id).config.motion.masks)
        except NotFoundError:  # the camera was removed meanwhile
            return
        if self.masks != self._shown:
            self._shown = list(self.masks)
            self._build()
        self._draw()  # also once the first frame gives the picture's size

    def _draw(self) -> None:
        frame = self._live.frame
        svg = ""
        if self._wanted_by and frame is not None:
            svg = masks_svg(self.masks, frame.result.width, frame.result.height)
        self._live.set_layer("masks", svg)

    def _build(self) -> None:
        self.root.clear()
        with self.root:
            if not self.masks:
                ui.label("No motion masks: motion anywhere in the picture counts.").classes(
                    "text-sm text-gray-500"
                ).mark("masks-empty")
            for number, mask in enumerate(self.masks, start=1):
                self._row(number, mask)

    def _row(self, number: int, mask: MaskConfig) -> None:
        name = f"mask {number}"
        with ui.row().classes("w-full items-center gap-3 no-wrap py-1").mark(f"mask-{number}"):
            ui.icon("texture", size="sm").style(f"color: {MASK_COLOUR}").tooltip("motion mask")
            ui.label(name).classes("font-medium font-mono w-36 shrink-0")
            ui.label(f"{len(mask.points)} corners: motion here never counts").classes(
                "text-xs text-gray-500 flex-1"
            )
            label = f"Delete {name}"
            button = ui.button(icon="delete", on_click=lambda: self._delete(number, mask))
            button.props(f'flat round dense aria-label="{label}"').tooltip(label)
            button.mark(f"mask-{number}-delete").set_enabled(self._allowed)

    async def _delete(self, number: int, mask: MaskConfig) -> None:
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        work = remove_mask(self._cameras, self._live.camera_id, mask)
        await run_action(work, busy="Deleting", done=f"Deleted mask {number}")
        self.update()
