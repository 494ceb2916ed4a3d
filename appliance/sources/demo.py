"""demo:// — the animated scene of real photos, as a camera that needs no hardware."""

from __future__ import annotations

import threading

import numpy as np

from appliance.errors import SourceError
from appliance.sources.base import SourceOptions
from appliance.sources.demo_scene import DemoScene
from appliance.sources.pacing import Pacer
from appliance.sources.uri import SourceURI

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 15.0


class DemoSource:
    """Frame n of the scene on the n-th read. The URI's query wins over the options."""

    def __init__(self, uri: SourceURI, options: SourceOptions) -> None:
        self.uri = uri.redacted
        self.width = uri.width or options.width or DEFAULT_SIZE[0]
        self.height = uri.height or options.height or DEFAULT_SIZE[1]
        self.nominal_fps: float | None = uri.fps or options.fps or DEFAULT_FPS
        self._realtime = options.realtime
        self._scene: DemoScene | None = None
        self._pacer: Pacer | None = None
        self._closed = threading.Event()
        self._index = 0

    def open(self) -> None:
        fps = self.nominal_fps or DEFAULT_FPS
        self._scene = DemoScene.load(self.width, self.height, fps)  # the photos load here
        self._pacer = Pacer(fps) if self._realtime else None
        self._index = 0
        self._closed.clear()

    def read(self) -> np.ndarray:
        scene = self._scene
        if scene is None or self._closed.is_set():
            raise SourceError(f"{self.uri} is not open")
        frame = scene.render(self._index)
        self._index += 1
        if self._pacer is not None:
            self._pacer.wait(self._closed)
        if self._closed.is_set():
            raise SourceError(f"{self.uri} was closed")
        return frame

    def close(self) -> None:
        self._closed.set()
        self._scene = None
