"""OpenCV capture: USB/V4L2 cameras, RTSP streams, video files and GStreamer pipelines."""

from __future__ import annotations

import math
import os
import threading

import cv2
import numpy as np

from appliance.errors import SourceError
from appliance.sources.base import SourceOptions
from appliance.sources.gstreamer import (
    NO_GSTREAMER,
    csi_pipeline,
    gstreamer_available,
    with_appsink,
)
from appliance.sources.pacing import Pacer
from appliance.sources.redact import redact
from appliance.sources.uri import SourceURI

DEFAULT_FILE_FPS = 25.0  # a file that does not say its frame rate is played at this one
# Only the transport: the variable is process-wide and also reaches file captures, where
# "fflags;nobuffer" makes FFmpeg drop a file's first frame. The capture worker reads without
# pause, so what FFmpeg buffered while probing the stream drains in the first reads.
_RTSP_OPTIONS = "rtsp_transport;tcp"


class OpenCVSource:
    """One cv2.VideoCapture, read by one thread. A lock serialises open(), read() and close();
    OpenCV's own timeouts bound each call, so close() from another thread waits at most that."""

    def __init__(self, uri: SourceURI, options: SourceOptions) -> None:
        self.uri = uri.redacted
        self.nominal_fps: float | None = options.fps
        self._source = uri
        self._options = options
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._capture: cv2.VideoCapture | None = None
        self._pacer: Pacer | None = None

    def open(self) -> None:
        with self._lock:
            self._release()
            self._closed.clear()
            self._capture = open_capture(self._source, self._options)
            self.nominal_fps = _fps(self._capture) or self._options.fps
            if self._source.scheme == "file" and self._options.realtime:
                self._pacer = Pacer(self.nominal_fps or DEFAULT_FILE_FPS)

    def read(self) -> np.ndarray:
        with self._lock:
            frame = self._next_frame()
        if self._pacer is not None:
            self._pacer.wait(self._closed)
        if self._closed.is_set():
            raise SourceError(f"{self.uri} was closed")
        return frame

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._release()

    def _next_frame(self) -> np.ndarray:
        if self._capture is None or self._closed.is_set():
            raise SourceError(f"{self.uri} is not open")
        frame = _read(self._capture, self.uri)
        if frame is None and self._source.scheme == "file":
            frame = self._rewind(self._capture)
        if frame is None:
            raise SourceError(f"no frame from {self.uri} (disconnected, stalled or unreadable)")
        return as_bgr(frame)

    def _rewind(self, capture: cv2.VideoCapture) -> np.ndarray | None:
        """Loop a file: seek to its start, or reopen it where the container cannot seek."""
        if capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            frame = _read(capture, self.uri)
            if frame is not None:
                return frame
        capture.release()
        self._capture = None
        self._capture = open_capture(self._source, self._options)
        return _read(self._capture, self.uri)

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._pacer = None


def open_capture(uri: SourceURI, options: SourceOptions) -> cv2.VideoCapture:
    """An opened VideoCapture for `uri`, on the backend its scheme needs; else SourceError."""
    if uri.scheme in ("usb", "v4l2"):
        # OpenCV's V4L2 backend ignores CAP_PROP_READ_TIMEOUT_MSEC and waits for each frame up
        # to this many seconds (default 10), read once per process at the first V4L2 read.
        seconds = max(1, math.ceil(options.read_timeout_s))
        os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(seconds))
        device = uri.index if uri.index is not None else uri.target
        return _configure_camera(_create(uri, device, cv2.CAP_V4L2, []), options)
    if uri.scheme in ("rtsp", "rtsps"):
        # FFmpeg reads its options from the environment when a capture is created; setting the
        # variable here, before the first one, is enough. An operator's own value is kept.
        # (The FFmpeg backend ignores CAP_PROP_BUFFERSIZE; the worker's steady reads keep
        # its queue short instead.)
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", _RTSP_OPTIONS)
        return _create(uri, uri.target, cv2.CAP_FFMPEG, _timeouts(options))
    if uri.scheme == "file":  # any backend: the system OpenCV on Jetson may lack FFmpeg
        return _create(uri, uri.target, cv2.CAP_ANY, [])
    if uri.scheme in ("gst", "csi"):
        if not gstreamer_available():
            raise SourceError(f"cannot open {uri.redacted}: {NO_GSTREAMER}")
        pipeline = csi_pipeline(uri.index or 0, options) if uri.scheme == "csi" else uri.target
        return _create(uri, with_appsink(pipeline), cv2.CAP_GSTREAMER, _timeouts(options))
    raise SourceError(f"OpenCV does not open {uri.scheme}:// sources")


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Frames as BGR uint8 HxWx3, whatever the device delivered (grey, BGRA, 16-bit)."""
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _create(uri: SourceURI, target: int | str, api: int, params: list[int]) -> cv2.VideoCapture:
    try:
        capture = cv2.VideoCapture(target, api, params)
    except cv2.error as exc:
        raise SourceError(f"cannot open {uri.redacted}: {_first_line(exc)}") from None
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open {uri.redacted}: {_why_not(uri)}")
    return capture


def _configure_camera(capture: cv2.VideoCapture, options: SourceOptions) -> cv2.VideoCapture:
    """Ask for format, size and rate; cameras pick the nearest mode they have."""
    if options.fourcc:
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*options.fourcc.ljust(4)[:4]))
    if options.width:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
    if options.height:
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
    if options.fps:
        capture.set(cv2.CAP_PROP_FPS, options.fps)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued seconds ago
    return capture


def _read(capture: cv2.VideoCapture, shown: str) -> np.ndarray | None:
    try:
        ok, frame = capture.read()
    except cv2.error as exc:
        raise SourceError(f"reading {shown} failed: {_first_line(exc)}") from None
    return frame if ok and frame is not None and frame.size else None


def _timeouts(options: SourceOptions) -> list[int]:
    return [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        max(1, round(options.open_timeout_s * 1000)),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        max(1, round(options.read_timeout_s * 1000)),
    ]


def _fps(capture: cv2.VideoCapture) -> float | None:
    value = capture.get(cv2.CAP_PROP_FPS)
    return value if math.isfinite(value) and 0 < value <= 1000 else None


def _why_not(uri: SourceURI) -> str:
    if uri.scheme in ("usb", "v4l2"):
        return "no such camera, or it is busy or not a capture device"
    if uri.scheme in ("rtsp", "rtsps"):
        return "unreachable, refused, timed out, wrong path or wrong credentials"
    if uri.scheme == "file":
        return "not a video OpenCV can decode"
    return "the GStreamer pipeline did not start"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact(text.splitlines()[0][:300])
