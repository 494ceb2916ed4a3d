"""A camera's live picture in the page, fed by the frames the pipeline already encoded.

The browser loads each new frame as a short snapshot request instead of holding one MJPEG
connection per view: browsers allow six HTTP/1.1 connections per host, so eight MJPEG tiles
would starve. A frame the browser is still loading when the next arrives is skipped, so a slow
link lowers the frame rate, not the freshness. While the view exists it is a viewer of the
camera (one place, like any API viewer), so frames are encoded (once, shared with every other
viewer); it gives its place back when the element is deleted: page left, grid rebuilt, or tab
closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nicegui import background_tasks, ui

from appliance.errors import ApplianceError
from appliance.services.cameras import CameraService
from appliance.services.live import LiveFrame

RETRY_S = 2.0  # a full camera (every viewer place taken) is asked again after this
LAYERS = ("masks", "motion", "draft")  # the SVG over the picture, drawn in this order


class LiveView(ui.interactive_image):
    def __init__(
        self,
        cameras: CameraService,
        camera_id: str,
        *,
        annotate: bool = True,
        fps: float = 5,
        preview: bool = False,
        url_for: Callable[[str], str] = str,
    ):
        super().__init__()
        self.camera_id = camera_id
        self._cameras = cameras
        self._url_for = url_for  # e.g. signs the URL when authentication is on
        self._annotate = annotate
        self._preview = preview  # tiles: the pipeline's 640 px variant, a fraction of the work
        self._fps = fps
        self.frame: LiveFrame | None = None  # the frame last shown
        self._shown_mono: float | None = None
        self._layers: dict[str, str] = {}
        self._listeners: list[Callable[[LiveFrame], None]] = []
        self.classes("w-full aspect-video bg-black rounded").mark(f"live-{camera_id}")
        self.props(f"data-camera={camera_id}")  # for browser tests and user scripts
        self._task: asyncio.Task | None = None
        self._follow()

    @property
    def annotate(self) -> bool:
        return self._annotate

    def frame_age_s(self) -> float | None:
        """Seconds since the frame shown arrived (None: nothing shown yet)."""
        return None if self._shown_mono is None else time.monotonic() - self._shown_mono

    def set_layer(self, layer: str, svg: str) -> None:
        """Replace one of the LAYERS over the picture; the others stay."""
        if self._layers.get(layer, "") == svg:
            return  # nothing sent: motion layers are set for every frame
        self._layers[layer] = svg
        self.set_content("".join(self._layers.get(name, "") for name in LAYERS))

    def on_frame(self, listener: Callable[[LiveFrame], None]) -> None:
        """Call `listener` with each frame shown, once its picture is on its way."""
        self._listeners.append(listener)

    def set_annotate(self, annotate: bool) -> None:
        """Boxes on or off: watch the other encoding, and show its next frame."""
        if annotate == self._annotate:
            return
        self._annotate = annotate
        self._follow()

    def _follow(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = background_tasks.create(self._show_frames(), name=f"live-{self.camera_id}")

    async def _show_frames(self) -> None:
        while not self.is_deleted:
            try:
                viewer = self._cameras.watch(
                    self.camera_id, self._annotate, preview=self._preview, fps=self._fps
                )
            except ApplianceError:  # the camera is full, or gone: look again later
                await asyncio.sleep(RETRY_S)
                continue
            async with viewer:
                async for frame in viewer:
                    self._show(frame)
            await asyncio.sleep(RETRY_S)  # the camera went away

    def _show(self, frame: LiveFrame) -> None:
        self.frame, self._shown_mono = frame, time.monotonic()
        self.set_source(self.source_url(frame.frame_id))
        for listener in self._listeners:
            listener(frame)

    def source_url(self, frame_id: int) -> str:
        # a new URL per frame: the browser fetches it once and never from its cache
        flag = int(self._annotate)
        size = "&preview=1" if self._preview else ""
        path = f"/v1/cameras/{self.camera_id}/snapshot.jpg?annotate={flag}{size}&frame={frame_id}"
        return self._url_for(path)

    def _handle_delete(self) -> None:
        if self._task is not None:
            self._task.cancel()
        super()._handle_delete()
