"""OpenCV sources on real things: a video file written here, absent cameras, loopback sockets
that refuse or never answer, and the GStreamer this OpenCV lacks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import DATA, PHOTOS

from appliance.errors import SourceError
from appliance.sources import FrameSource, SourceOptions, gstreamer_available, open_source

CLIP_FPS = 20.0
CLIP_SIZE = (320, 240)
FAST = SourceOptions(realtime=False)


def _clip_frames(count: int) -> list[np.ndarray]:
    """Frames that differ visibly: the three test photos, each shifted a little more."""
    photos = [cv2.resize(cv2.imread(str(DATA / name)), CLIP_SIZE) for name in PHOTOS.values()]
    return [np.roll(photos[i % len(photos)], 9 * i, axis=1) for i in range(count)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """An MJPG .avi (every frame a key frame, so seeking back is exact) and what went in."""
    frames = _clip_frames(12)
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), CLIP_FPS, CLIP_SIZE)
    assert writer.isOpened(), "this OpenCV cannot write MJPG"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path, frames


@pytest.fixture
def opened() -> Iterator[list[FrameSource]]:
    """Sources a test opens; closed afterwards even when the test fails."""
    sources: list[FrameSource] = []
    yield sources
    for source in sources:
        source.close()


def _open(uri: str, options: SourceOptions, opened: list[FrameSource]) -> FrameSource:
    source = open_source(uri, options)
    opened.append(source)
    source.open()
    return source


def _which(frame: np.ndarray, frames: list[np.ndarray]) -> int:
    """The index of the written frame that a decoded (lossy) frame is closest to."""
    errors = [np.mean(cv2.absdiff(frame, original)) for original in frames]
    assert min(errors) < 8, "the frame matches nothing that was written"
    return int(np.argmin(errors))


def test_file_plays_every_frame_and_loops(clip, opened) -> None:
    path, frames = clip
    source = _open(f"file://{path}", FAST, opened)
    assert source.nominal_fps == pytest.approx(CLIP_FPS)
    assert source.uri == f"file://{path}"
    read = [source.read() for _ in range(2 * len(frames) + 3)]
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in read)
    order = [_which(frame, frames) for frame in read]
    expected = list(range(len(frames)))
    assert order == expected + expected + [0, 1, 2]


def test_realtime_keeps_the_file_rate_and_fast_mode_does_not(clip, opened) -> None:
    path, _ = clip
    paced = _open(f"file://{path}", SourceOptions(), opened)
    paced.read()
    start = time.monotonic()
    for _ in range(20):
        paced.read()
    paced_fps = 20 / (time.monotonic() - start)
    assert 0.75 * CLIP_FPS < paced_fps < 1.05 * CLIP_FPS  # late frames slow it, none hurry it

    fast = _open(f"file://{path}", FAST, opened)
    start = time.monotonic()
    for _ in range(60):
        fast.read()
    assert 60 / (time.monotonic() - start) > 5 * CLIP_FPS


def test_close_is_idempotent_and_reads_after_it_fail(clip) -> None:
    path, _ = clip
    source = open_source(f"file://{path}", FAST)
    with pytest.raises(SourceError, match="not open"):
        source.read()
    source.open()
    source.read()
    source.close()
    source.close()
    with pytest.raises(SourceError):
        source.read()
    source.open()  # a worker reopens after an error
    assert source.read().shape == (240, 320, 3)
    source.close()


def test_close_from_another_thread_ends_a_paced_wait(tmp_path: Path) -> None:
    path = tmp_path / "slow.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 0.5, CLIP_SIZE)
    for frame in _clip_frames(3):
        writer.write(frame)
    writer.release()
    source = open_source(f"file://{path}", SourceOptions())
    source.open()
    source.read()  # the schedule starts: the next frame is due in 2 s
    closer = threading.Timer(0.2, source.close)
    closer.start()
    start = time.monotonic()
    with pytest.raises(SourceError, match="closed"):
        source.read()
    assert time.monotonic() - start < 1.0
    closer.join()


def test_a_file_opencv_cannot_decode(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    source = open_source(f"file://{path}", FAST)
    with pytest.raises(SourceError, match="cannot open"):
        source.open()
    source.close()


@pytest.mark.parametrize("uri", ["usb://99", "v4l2:///dev/video99"])
def test_absent_camera_fails_quickly(uri: str) -> None:
    source = open_source(uri, SourceOptions(width=1280, height=720, fps=30, fourcc="MJPG"))
    start = time.monotonic()
    with pytest.raises(SourceError, match="no such camera"):
        source.open()
    assert time.monotonic() - start < 2
    source.close()


@pytest.mark.skipif(gstreamer_available(), reason="this OpenCV has GStreamer")
@pytest.mark.parametrize("uri", ["gst://videotestsrc ! videoconvert ! appsink", "csi://0"])
def test_gstreamer_sources_need_a_gstreamer_opencv(uri: str) -> None:
    source = open_source(uri, SourceOptions())
    with pytest.raises(SourceError, match=r"this OpenCV has no GStreamer.*system-site-packages"):
        source.open()
    source.close()


def test_gstreamer_available_matches_the_build() -> None:
    build = cv2.getBuildInformation()
    line = next(line for line in build.splitlines() if line.strip().startswith("GStreamer:"))
    assert gstreamer_available() == ("YES" in line)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rtsp_refused_fails_within_the_open_timeout() -> None:
    uri = f"rtsp://admin:hunter2@127.0.0.1:{_free_port()}/live"
    source = open_source(uri, SourceOptions(open_timeout_s=2, read_timeout_s=2))
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        source.open()
    assert time.monotonic() - start < 2.5
    assert "hunter2" not in caught.value.message
    assert "admin:***@127.0.0.1" in caught.value.message
    assert "hunter2" not in source.uri
    source.close()


def test_rtsp_server_that_never_answers_times_out() -> None:
    """A listening socket that accepts nothing: FFmpeg connects, then waits for RTSP replies."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        source = open_source(f"rtsp://127.0.0.1:{port}/live", SourceOptions(open_timeout_s=1))
        start = time.monotonic()
        with pytest.raises(SourceError, match="cannot open"):
            source.open()
        elapsed = time.monotonic() - start
        source.close()
    assert 0.8 < elapsed < 4
