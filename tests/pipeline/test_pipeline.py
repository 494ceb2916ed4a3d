"""Capture workers, the shared inference worker and the broadcaster, on real sources and the
real demo model."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import free_port, write_clip

from appliance.domain import CameraState, DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.models.demo import demo_model_path
from appliance.models.detector import Detector
from appliance.pipeline.broadcast import Broadcaster
from appliance.pipeline.camera import Backoff, CameraWorker
from appliance.pipeline.feeds import CameraFeed, FeedPlan
from appliance.pipeline.scheduler import InferenceWorker
from appliance.sources import SourceOptions, open_source


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "scene.avi")


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    loaded = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    yield loaded
    loaded.close()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def file_worker(
    clip: Path, camera_id: str = "cam", *, realtime: bool = True, **kwargs
) -> CameraWorker:
    options = SourceOptions(realtime=realtime)
    return CameraWorker(camera_id, lambda: open_source(f"file://{clip}", options), **kwargs)


def test_file_camera_streams_at_the_file_rate(clip: Path) -> None:
    """A paced file source goes starting -> streaming, at about the file's 15 fps."""
    states: list[CameraState] = []
    worker = file_worker(clip, on_state=lambda _id, state, _reason: states.append(state))
    worker.start()
    try:
        wait_until(lambda: worker.status().frames >= 45)  # past the clip's end: it loops
        status = worker.status()
        assert status.state is CameraState.STREAMING
        assert 10 <= status.fps_in <= 20
        assert status.frame_age_s is not None and status.frame_age_s < 0.5
        version, frame = worker.frames.peek()
        assert (
            frame is not None and frame.frame_id == version and frame.pixels.shape == (360, 640, 3)
        )
    finally:
        worker.stop()
    assert states == [CameraState.STARTING, CameraState.STREAMING, CameraState.STOPPED]


def test_dead_source_reconnects_forever_until_stopped() -> None:
    """A source that cannot be opened is retried with backoff; the thread never dies."""
    options = SourceOptions(open_timeout_s=0.5, read_timeout_s=0.5)
    uri = f"rtsp://user:secret@127.0.0.1:{free_port()}/none"
    worker = CameraWorker(
        "dead", lambda: open_source(uri, options), backoff=Backoff(initial_s=0.05, max_s=0.1)
    )
    worker.start()
    try:
        wait_until(lambda: worker.status().reconnects >= 3)
        status = worker.status()
        assert status.state in (CameraState.RECONNECTING, CameraState.STARTING)
        assert status.last_error and "secret" not in status.last_error
        assert status.frames == 0
    finally:
        worker.stop()
    assert worker.state is CameraState.STOPPED


def test_four_cameras_share_one_engine_and_none_starves(clip: Path, detector: Detector) -> None:
    """Four cameras read as fast as inference takes them, on one inference worker: each gets
    a fair share, and none of their frames is skipped."""
    inference = InferenceWorker(detector)
    workers = [
        file_worker(clip, f"cam{i}", realtime=False, lossless=True, on_frame=inference.notify)
        for i in range(4)
    ]
    received: dict[str, list[int]] = {w.camera_id: [] for w in workers}
    for worker in workers:
        sink = received[worker.camera_id]
        inference.add(
            CameraFeed(
                worker.camera_id,
                worker.frames,
                lambda p, s=sink: s.append(p.frame.frame_id),
                FeedPlan(DetectParams(conf=0.3)),
            )
        )
        worker.start()
    inference.start()
    try:
        time.sleep(6)
    finally:
        inference.stop()
        for worker in workers:
            worker.stop()
    counts = [len(ids) for ids in received.values()]
    assert min(counts) > 5, counts
    assert min(counts) / max(counts) >= 0.8, counts
    for ids in received.values():
        assert ids == list(range(1, len(ids) + 1))  # lossless: every frame, in order, once


def test_the_next_frame_is_prepared_while_the_engine_runs(
    clip: Path, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker keeps the engine busy: a frame's preprocessing overlaps the engine's run of
    the frame before (run one after the other, the engine would idle through it)."""
    runs: list[tuple[float, float]] = []
    prepares: list[float] = []
    run, prepare = detector.run, detector.prepare

    def timed_run(batch):
        start = time.monotonic()
        try:
            return run(batch)
        finally:
            runs.append((start, time.monotonic()))

    def timed_prepare(images, params):
        prepares.append(time.monotonic())
        return prepare(images, params)

    monkeypatch.setattr(detector, "run", timed_run)
    monkeypatch.setattr(detector, "prepare", timed_prepare)
    inference = InferenceWorker(detector)
    worker = file_worker(clip, realtime=False, lossless=True, on_frame=inference.notify)
    got: list[int] = []
    inference.add(CameraFeed("cam", worker.frames, lambda p: got.append(1)))
    worker.start()
    inference.start()
    try:
        wait_until(lambda: len(got) >= 40)
    finally:
        inference.stop()
        worker.stop()
    overlapping = [t for t in prepares if any(start < t < end for start, end in runs)]
    assert len(overlapping) >= 0.8 * len(prepares), (len(overlapping), len(prepares))


def test_fps_limit_is_honoured(clip: Path, detector: Detector) -> None:
    inference = InferenceWorker(detector)
    worker = file_worker(clip, realtime=False, on_frame=inference.notify)
    got: list[float] = []
    inference.add(
        CameraFeed(
            "cam",
            worker.frames,
            lambda p: got.append(time.monotonic()),
            FeedPlan(DetectParams(), fps_limit=4),
        )
    )
    worker.start()
    inference.start()
    try:
        time.sleep(3)
    finally:
        inference.stop()
        worker.stop()
    assert 9 <= len(got) <= 14, len(got)


@pytest.mark.anyio
async def test_broadcast_encodes_once_for_all_viewers(clip: Path, detector: Detector) -> None:
    """Ten viewers of one camera get the very same JPEG bytes; each frame is encoded once."""
    broadcaster = Broadcaster("cam")
    inference = InferenceWorker(detector)
    worker = file_worker(clip, on_frame=inference.notify)
    inference.add(CameraFeed("cam", worker.frames, broadcaster.publish))
    seen: list[dict[int, bytes]] = [{} for _ in range(10)]

    async def view(index: int) -> None:
        async with broadcaster.watch((True, False)) as viewer:
            async for encoded in viewer:
                seen[index][encoded.processed.frame.frame_id] = encoded.jpeg
                if len(seen[index]) >= 10:
                    break

    worker.start()
    inference.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(view(i) for i in range(10))), 30)
    finally:
        inference.stop()
        worker.stop()
        broadcaster.close()
        broadcaster.join()
    processed = broadcaster.processed.peek()[1]
    assert processed is not None
    frame_ids = set().union(*seen)
    assert broadcaster.encodes <= len(frame_ids) + 2  # once per frame, not once per viewer
    for frame_id in frame_ids:
        copies = [s[frame_id] for s in seen if frame_id in s]
        assert all(c is copies[0] for c in copies)  # literally the same bytes object
    decoded = cv2.imdecode(np.frombuffer(copies[0], np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (360, 640, 3)


def test_nothing_is_encoded_without_viewers(clip: Path, detector: Detector) -> None:
    broadcaster = Broadcaster("cam")
    inference = InferenceWorker(detector)
    worker = file_worker(clip, on_frame=inference.notify)
    inference.add(CameraFeed("cam", worker.frames, broadcaster.publish))
    worker.start()
    inference.start()
    try:
        wait_until(lambda: broadcaster.processed.peek()[0] >= 5)
    finally:
        inference.stop()
        worker.stop()
        broadcaster.close()
        broadcaster.join()
    assert broadcaster.encodes == 0


def test_a_camera_moved_to_another_engine_waits_for_its_frames_on_the_old_one(
    clip: Path, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A swap moves a camera between two frames: the new engine starts on it only once the
    old one has delivered the frames it had, so the two never run at once (on a small CPU
    both would slow down) and frames reach the camera in order."""
    green = Detector.load("green", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    runs: list[tuple[str, float, float]] = []

    def timed(engine: Detector, name: str) -> None:
        run = engine.run

        def timed_run(batch):
            start = time.monotonic()
            try:
                return run(batch)
            finally:
                runs.append((name, start, time.monotonic()))

        monkeypatch.setattr(engine, "run", timed_run)

    timed(detector, "blue")
    timed(green, "green")
    workers = [InferenceWorker(detector), InferenceWorker(green)]
    serving = [workers[0]]
    camera = file_worker(clip, realtime=False, lossless=True, on_frame=lambda: serving[0].notify())
    got: list[int] = []
    feed = CameraFeed(
        "cam",
        camera.frames,
        lambda p: got.append(p.frame.frame_id),
        wake=lambda: serving[0].notify(),
    )
    workers[0].add(feed)
    for worker in workers:
        worker.start()
    camera.start()
    try:
        for move in range(1, 9):  # as Pipeline.route does it
            wait_until(lambda at_least=5 * move: len(got) >= at_least)
            old, new = workers[(move - 1) % 2], workers[move % 2]
            old.remove("cam")
            serving[0] = new
            new.add(feed)
        wait_until(lambda: len(got) >= 45)
    finally:
        for worker in workers:
            worker.stop()
        camera.stop()
        green.close()
    assert {name for name, _, _ in runs} == {"blue", "green"}
    ordered = sorted(runs, key=lambda run: run[1])
    overlaps = [(a, b) for a, b in itertools.pairwise(ordered) if a[0] != b[0] and b[1] < a[2]]
    assert not overlaps, overlaps
    assert got == list(range(1, len(got) + 1))  # lossless: every frame, in order, once
