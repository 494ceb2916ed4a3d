"""A camera's live picture in the page, fed by the frames the pipeline already encoded.

The browser loads each new frame as a short snapshot request instead of holding one MJPEG
connection per view: browsers allow six HTTP/1.1 connections per host, so eight MJPEG tiles
would starve. A frame the browser is still loading when the next arrives is skipped, so a slow
link lowers the frame rate, not the freshness. While the view exists it counts as a viewer, so
frames are encoded (once, shared with every other viewer); it stops counting when the element
is deleted: page left, grid rebuilt, or tab closed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from nicegui import ui

from appliance.services.cameras import LiveFeed, LiveFrame


class LiveView(ui.interactive_image):
    def __init__(
        self,
        feed: LiveFeed,
        camera_id: str,
        *,
        annotate: bool = True,
        fps: float = 5,
        preview: bool = False,
        url_for: Callable[[str], str] = str,
    ):
        super().__init__()
        self.camera_id = camera_id
        self._url_for = url_for  # e.g. signs the URL when authentication is on
        self._feed = feed
        self._annotate = annotate
        self._preview = preview  # tiles: the pipeline's 640 px variant, a fraction of the work
        self._watching = ExitStack()
        self._shown: int | None = None
        self.frame: LiveFrame | None = None  # the frame last shown
        self.classes("w-full aspect-video bg-black rounded").mark(f"live-{camera_id}")
        self.props(f"data-camera={camera_id}")  # for browser tests and user scripts
        self._watching.enter_context(feed.watching(annotate, preview=preview))
        with self:
            self._timer = ui.timer(1 / fps, self.refresh)

    @property
    def annotate(self) -> bool:
        return self._annotate

    def set_annotate(self, annotate: bool) -> None:
        """Boxes on or off: watch the other encoding, and show its next frame."""
        if annotate == self._annotate:
            return
        self._watching.close()
        self._annotate, self._shown = annotate, None
        self._watching.enter_context(self._feed.watching(annotate, preview=self._preview))

    def refresh(self) -> None:
        encoded = self._feed.latest_encoded(self._annotate, preview=self._preview)
        if encoded is None:
            return
        frame_id = encoded.processed.frame.frame_id
        if frame_id == self._shown:
            return
        self._shown, self.frame = frame_id, encoded
        self.set_source(self.source_url(frame_id))

    def source_url(self, frame_id: int) -> str:
        # a new URL per frame: the browser fetches it once and never from its cache
        flag = int(self._annotate)
        size = "&preview=1" if self._preview else ""
        path = f"/v1/cameras/{self.camera_id}/snapshot.jpg?annotate={flag}{size}&frame={frame_id}"
        return self._url_for(path)

    def _handle_delete(self) -> None:
        self._watching.close()
        super()._handle_delete()
