"""Draw a counting line or an occupancy zone on a camera's live picture, name it, pick the
classes it counts and save it; or a motion mask (no name, nothing counted). Each click on the
picture adds a point; the draft shows as an SVG overlay on the picture until it is saved
(then the annotated stream draws lines and zones, the mask list its masks) or cancelled.
Saving goes through the scene service (the camera's motion settings for a mask): what it
refuses is shown, nothing changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from nicegui.events import MouseEventArguments

from appliance.auth.scopes import Scope
from ui import session
from ui.components.live_view import LiveView
from ui.components.mask_list import add_mask
from ui.context import Dashboard
from ui.feedback import run_action
from ui.scene_draft import NAME_RULE, Draft, Kind, name_problem


class SceneEditor(ui.column):
    """The Draw buttons, the hint for the next click, and the name/classes/save form."""

    def __init__(
        self,
        dash: Dashboard,
        live: LiveView,
        labels: list[str],
        *,
        title: str,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.classes("w-full gap-2")
        self._dash, self._live = dash, live
        self.on_saved = on_saved  # e.g. the list of saved lines and zones, to show it at once
        self.on_drawing: Callable[[Kind | None], None] | None = None  # the kind, None: done
        self._camera_id = live.camera_id
        self.draft: Draft | None = None
        self._size: tuple[int, int] | None = None  # the picture's pixels, from the first click
        allowed = session.can(dash, Scope.OPERATOR)
        with self:
            self._build(title, labels, allowed)
        live.on_mouse(self._clicked)
        self._render()

    def _build(self, title: str, labels: list[str], allowed: bool) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(title).classes("font-medium")
            ui.space()
            self.draw_line = self._draw_button("Draw line", "timeline", "line", allowed)
            self.draw_zone = self._draw_button("Draw zone", "pentagon", "zone", allowed)
            self.draw_mask = self._draw_button("Draw mask", "texture", "mask", allowed)
            self.draw_mask.tooltip("An area whose motion never counts: a clock, a tree")
        with ui.row().classes("items-center gap-2 text-primary") as self.prompt:
            ui.icon("ads_click")
            self.hint = ui.label().classes("text-sm").mark("draw-hint")
        with ui.row().classes("w-full items-start gap-3") as self.form:
            self.name = ui.input("Name", validation=lambda v: name_problem(v) if v else None)
            self.name.props(f'dense for=scene-name hint="{NAME_RULE}"').classes("w-72")
            self.name.mark("scene-name")
            self.counted = ui.select(
                labels, multiple=True, value=[], label="Count only (empty: all)"
            )
            self.counted.props("use-chips clearable dense options-dense").classes("min-w-[200px]")
            self.counted.mark("scene-classes")
        with ui.row().classes("w-full items-center justify-end gap-2") as self.actions:
            self.undo = self._action("Undo point", "undo", self._undo).mark("scene-undo")
            self.swap = self._action("Swap direction", "swap_horiz", self._swap)
            self.swap.mark("scene-swap")
            ui.button("Cancel", on_click=self.cancel).props("flat no-caps").mark("scene-cancel")
            self.save = ui.button("Save", icon="check", on_click=self.save_draft)
            self.save.props("no-caps").mark("scene-save")

    def _draw_button(self, text: str, icon: str, kind: Kind, allowed: bool) -> ui.button:
        button = ui.button(text, icon=icon, on_click=lambda: self.start(kind))
        button.props("outline no-caps").mark(f"draw-{kind}").set_enabled(allowed)
        return button

    @staticmethod
    def _action(text: str, icon: str, handler: Callable[[], None]) -> ui.button:
        return ui.button(text, icon=icon, on_click=handler).props("flat no-caps")

    def start(self, kind: Kind) -> None:
        """Begin a new draft (dropping any other): the picture's clicks now add its points."""
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        self.draft = Draft(kind)
        self.name.value = ""
        self.name.error = None  # an empty name is only wrong when saving
        self.counted.value = []
        self._render()

    def cancel(self) -> None:
        self.draft = None
        self._render()

    def _clicked(self, event: MouseEventArguments) -> None:
        draft, frame = self.draft, self._live.frame
        if draft is None or event.type != "click":
            return
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        if frame is None:
            ui.notify("Wait for the camera's first picture", type="warning")
            return
        self._size = (frame.result.width, frame.result.height)
        if draft.add(event.image_x, event.image_y, *self._size):
            self._render()

    def _undo(self) -> None:
        if self.draft is not None:
            self.draft.undo()
            self._render()

    def _swap(self) -> None:
        if self.draft is not None:
            self.draft.swap()
            self._render()

    async def save_draft(self) -> None:
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        draft = self.draft
        if draft is None or not draft.complete:
            ui.notify(f"Draw the {draft.kind if draft else 'line'} first", type="warning")
            return
        if draft.kind == "mask":
            await self._finish(draft, self._add_mask(draft), "Saved the mask")
            return
        name = (self.name.value or "").strip()
        if problem := name_problem(name):
            self.name.error = problem
            ui.notify(f"Name: {problem}", type="warning")
            return
        classes = list(self.counted.value or []) or None
        await self._finish(draft, self._put(draft, name, classes), f"Saved {draft.kind} {name}")

    async def _finish(self, draft: Draft, work: Awaitable[object], done: str) -> None:
        ok, _ = await run_action(work, busy="Saving", done=done)
        if ok and self.draft is draft:
            self.cancel()
        if ok and self.on_saved is not None:
            self.on_saved()

    async def _put(self, draft: Draft, name: str, classes: list[str] | None) -> object:
        """Built inside the action: a ValidationError (a zone crossing itself) is shown."""
        scene = self._dash.services.scene
        if draft.kind == "line":
            return await scene.put_line(self._camera_id, name, draft.line_config(classes))
        return await scene.put_zone(self._camera_id, name, draft.zone_config(classes))

    async def _add_mask(self, draft: Draft) -> object:
        """Built inside the action, like `_put`: a polygon crossing itself is shown."""
        return await add_mask(self._dash.services.cameras, self._camera_id, draft.mask_config())

    def _render(self) -> None:
        draft = self.draft
        drawing = draft is not None
        self.prompt.set_visibility(drawing)
        self.form.set_visibility(draft is not None and draft.kind != "mask")  # masks: no name
        self.actions.set_visibility(drawing)
        self.hint.set_text(draft.hint() if draft else "")
        svg = draft.svg(*self._size) if draft and self._size else ""
        self._live.set_layer("draft", svg)
        if self.on_drawing is not None:
            self.on_drawing(draft.kind if draft else None)
        if draft is not None and draft.taking_points:
            self._live.classes(add="cursor-crosshair")
        else:
            self._live.classes(remove="cursor-crosshair")
        buttons = (("line", self.draw_line), ("zone", self.draw_zone), ("mask", self.draw_mask))
        for kind, button in buttons:
            if draft is not None and draft.kind == kind:
                button.props(remove="outline")  # filled: the kind being drawn
            else:
                button.props("outline")
        if draft is None:
            return
        self.save.set_text(f"Save {draft.kind}")
        self.save.set_enabled(draft.complete)
        self.undo.set_enabled(bool(draft.points))
        self.swap.set_visibility(draft.kind == "line")
        self.swap.set_enabled(draft.complete)
