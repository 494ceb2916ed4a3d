"""The Pipeline runtime on real file cameras and the real demo model: routing between two
engines, stages after inference, detect requests on the cameras' worker, one viewer API."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import compose_scene, write_clip

from appliance.domain import DetectParams, ProcessedFrame
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.errors import ModelClosedError, TooManyViewersError
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.pipeline.camera_runtime import CameraPlan
from appliance.pipeline.feeds import FeedPlan
from appliance.pipeline.runtime import Pipeline
from appliance.pipeline.stages import DetectionFilter
from appliance.sources import SourceOptions, open_source

CPU = OnnxRuntimeConfig(providers=("cpu",))
RAW = (False, False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "scene.avi")


@pytest.fixture
def detectors() -> Iterator[tuple[Detector, Detector]]:
    """Two engines of the same network, named apart: what a swap moves cameras between."""
    blue = Detector.load("blue", demo_model_path(), CPU)
    green = Detector.load("green", demo_model_path(), CPU)
    yield blue, green
    blue.close()
    green.close()


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    errors: list[tuple[str, str | None]] = []
    runtime = Pipeline(max_viewers=3, on_error=lambda camera, why: errors.append((camera, why)))
    runtime.errors = errors  # type: ignore[attr-defined]  # what the listener heard
    yield runtime
    runtime.close()


def opener(clip: Path) -> Callable:
    return lambda: open_source(f"file://{clip}", SourceOptions())


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


async def frames_of(pipeline: Pipeline, camera: str, count: int) -> list[ProcessedFrame]:
    got = []
    async with pipeline.watch(camera, None) as viewer:
        async for frame in viewer:
            got.append(frame.processed)
            if len(got) == count:
                break
    return got


@pytest.mark.anyio
async def test_route_moves_a_camera_between_engines_without_losing_frames(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    """A camera read as fast as inference takes it (so capture skips nothing) moves from
    one engine to another mid-stream: frames are processed in order, by the old engine up
    to the switch and by the new one after it, and at most one is lost at the switch (the
    old engine's last, when the new engine's first overtakes it: stages never see time go
    back)."""
    blue, green = detectors
    seen: list[tuple[int, str]] = []

    class Recorder:  # a stage sees every frame the camera's worker delivers
        name = "recorder"

        def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
            seen.append((processed.frame.frame_id, processed.result.model.name))
            return processed

    plan = CameraPlan(stages=(Recorder(),))
    fast = lambda: open_source(f"file://{clip}", SourceOptions(realtime=False))  # noqa: E731
    pipeline.add("cam")
    await asyncio.to_thread(pipeline.start, "cam", fast, blue, plan, lossless=True)
    await asyncio.to_thread(wait_until, lambda: len(seen) >= 10)
    assert pipeline.route({"cam": (green, plan)}) == ["cam"]
    assert await asyncio.to_thread(pipeline.retire, blue) == []  # nobody left on it
    await asyncio.to_thread(wait_until, lambda: sum(m == "green" for _, m in seen) >= 10)
    await asyncio.to_thread(pipeline.stop, "cam")
    ids, names = [i for i, _ in seen], [m for _, m in seen]
    assert ids == sorted(set(ids)), str(seen)  # in order, none twice
    switch = names.index("green")
    assert ids[:switch] == list(range(1, switch + 1)), str(seen)  # none lost before
    assert ids[switch:] == list(range(ids[switch], ids[-1] + 1)), str(seen)  # nor after
    assert ids[switch] - ids[switch - 1] <= 2, str(seen)  # at most one at the switch
    assert names[0] == "blue" and names[-1] == "green"
    assert names == sorted(names)  # blue, then green: never back
    assert pipeline.status("cam").model is None  # stopped
    with pytest.raises(ModelClosedError):
        pipeline.detect(blue, [DecodedImage(compose_scene().pixels)], DetectParams())


@pytest.mark.anyio
async def test_a_failing_stage_stops_only_its_camera_and_recovers(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    blue, _ = detectors

    class Exploding:
        name = "exploding"

        def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
            raise ValueError("no such zone")

    for camera in ("bad", "good"):
        pipeline.add(camera)
    await asyncio.to_thread(
        pipeline.start, "bad", opener(clip), blue, CameraPlan(stages=(Exploding(),))
    )
    await asyncio.to_thread(pipeline.start, "good", opener(clip), blue, CameraPlan())
    await frames_of(pipeline, "good", 5)
    wait_until(lambda: pipeline.status("bad").error is not None)
    assert pipeline.status("bad").error == "stage exploding failed: ValueError: no such zone"
    assert pipeline.status("good").error is None
    assert pipeline.status("bad").fps_out == 0.0
    pipeline.retune("bad", CameraPlan())  # the stage fixed (config changed)
    await frames_of(pipeline, "bad", 3)
    wait_until(lambda: pipeline.status("bad").error is None)
    reported = [why for camera, why in pipeline.errors if camera == "bad"]  # type: ignore[attr-defined]
    assert reported == ["stage exploding failed: ValueError: no such zone", None]  # once each


@pytest.mark.anyio
async def test_filter_stage_keeps_what_the_camera_asked_for(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    blue, _ = detectors
    pipeline.add("cam")
    everything = CameraPlan(FeedPlan(DetectParams(conf=0.1)))
    await asyncio.to_thread(pipeline.start, "cam", opener(clip), blue, everything)
    unfiltered = await frames_of(pipeline, "cam", 5)
    labels = {d.label for p in unfiltered for d in p.result.detections}
    assert {"person", "cat"} <= labels
    cats = blue.labels.index("cat")
    only_cats = DetectionFilter(conf=0.5, classes=frozenset({cats}))
    pipeline.retune("cam", CameraPlan(FeedPlan(DetectParams(conf=0.1)), stages=(only_cats,)))
    filtered = (await frames_of(pipeline, "cam", 8))[3:]  # past frames already in flight
    found = [d for p in filtered for d in p.result.detections]
    assert found and {d.label for d in found} == {"cat"}
    assert min(d.confidence for d in found) >= 0.5
    assert all("stages_ms" in p.stages_ms for p in filtered)


@pytest.mark.anyio
async def test_detect_requests_share_the_cameras_engine_thread(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    """One engine instance is called from one thread only, whoever asks: cameras and
    requests alike; requests are batched with camera frames (the demo model's batch is
    dynamic)."""
    blue, _ = detectors
    threads: set[str] = set()
    batch_sizes: list[int] = []
    infer = blue.engine.infer

    def recording_infer(batch):  # a spy on the real engine, not a fake
        threads.add(threading.current_thread().name)
        batch_sizes.append(batch.shape[0])
        return infer(batch)

    blue.engine.infer = recording_infer  # type: ignore[method-assign]
    pipeline.add("cam")
    await asyncio.to_thread(pipeline.start, "cam", opener(clip), blue, CameraPlan())
    await frames_of(pipeline, "cam", 3)
    scene = DecodedImage(compose_scene().pixels)
    answers = [pipeline.detect(blue, [scene], DetectParams(conf=0.4)) for _ in range(6)]
    results = await asyncio.gather(*(asyncio.wrap_future(a) for a in answers))
    for (result,) in results:
        assert {"person", "cat"} <= {d.label for d in result.detections}
    await frames_of(pipeline, "cam", 3)  # the camera goes on
    assert threads == {"engine-blue"}
    assert max(batch_sizes) > 1  # requests ran in batches, with each other or the camera


@pytest.mark.anyio
async def test_one_viewer_api_one_cap_places_given_back(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    blue, _ = detectors
    pipeline.add("cam")
    await asyncio.to_thread(pipeline.start, "cam", opener(clip), blue, CameraPlan())
    viewers = [pipeline.watch("cam", RAW), pipeline.watch("cam", (True, True)), None]
    viewers[2] = pipeline.watch("cam", None)
    assert pipeline.status("cam").viewers == 3
    with pytest.raises(TooManyViewersError):
        pipeline.watch("cam", RAW)
    frame = await viewers[0].next(timeout=10)
    assert frame is not None and frame.jpeg is not None and frame.jpeg[:2] == b"\xff\xd8"
    viewers[0].close()
    viewers[0].close()  # idempotent: the place is given back once
    assert pipeline.status("cam").viewers == 2
    ended = asyncio.create_task(frames_of_ending(viewers[1]))
    await asyncio.to_thread(pipeline.remove, "cam")  # the camera goes away
    assert await asyncio.wait_for(ended, 10) >= 0  # the iteration stopped by itself
    viewers[2].close()


async def frames_of_ending(viewer) -> int:
    count = 0
    async for _ in viewer:
        count += 1
    return count


@pytest.mark.anyio
async def test_a_request_waits_for_the_run_in_progress_not_a_queued_camera_batch(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    """A camera read as fast as inference goes keeps a batch queued behind the engine's
    current run; a detect request goes ahead of that queued batch, so no camera run starts
    between the request's arrival and its own run (allowing for the odd race where the
    engine takes the queued batch in the instant the request arrives)."""
    blue, _ = detectors
    runs: list[tuple[float, bool]] = []  # (start, a request's run)
    run = blue.run

    def recording_run(prepared):  # a spy on the real detector, not a fake
        runs.append((time.monotonic(), prepared.images[0].pixels.shape[1] == 1280))
        return run(prepared)

    blue.run = recording_run  # type: ignore[method-assign]
    pipeline.add("cam")
    opener_ = lambda: open_source(f"file://{clip}", SourceOptions(realtime=False))  # noqa: E731
    await asyncio.to_thread(pipeline.start, "cam", opener_, blue, CameraPlan(), lossless=True)
    await frames_of(pipeline, "cam", 5)  # the engine is busy with the camera from now on
    scene = DecodedImage(compose_scene().pixels)
    overtaken = []
    for _ in range(8):
        await asyncio.sleep(0.037)  # at some moment within a camera run
        sent = time.monotonic()
        await asyncio.wrap_future(pipeline.detect(blue, [scene], DetectParams()))
        own = next(t for t, request in runs if request and t >= sent)
        overtaken.append(sum(1 for t, request in runs if not request and sent < t < own))
    assert statistics.fmean(overtaken) < 0.5, overtaken
    assert max(overtaken) <= 1, overtaken


@pytest.mark.anyio
async def test_frame_ids_go_on_rising_after_a_restart(
    pipeline: Pipeline, detectors: tuple[Detector, Detector], clip: Path
) -> None:
    """A restarted camera (a capture setting changed) continues its frame ids, so its
    frames are not taken for older ones (which viewers and stages skip): the new capture
    shows at once. The first capture reads as fast as it can, so its ids run far ahead."""
    blue, _ = detectors
    fast = lambda: open_source(f"file://{clip}", SourceOptions(realtime=False))  # noqa: E731
    pipeline.add("cam")
    await asyncio.to_thread(pipeline.start, "cam", fast, blue, CameraPlan())
    await asyncio.sleep(1.5)
    before = (await frames_of(pipeline, "cam", 1))[-1].frame.frame_id
    assert before > 50  # frames inference skipped count too
    restarted = time.monotonic()
    await asyncio.to_thread(pipeline.start, "cam", opener(clip), blue, CameraPlan())

    async def first_new_frame() -> ProcessedFrame:
        async with pipeline.watch("cam", None) as viewer:
            async for frame in viewer:
                if frame.processed.frame.captured_mono > restarted:
                    return frame.processed
        raise AssertionError("the camera went away")

    first = await asyncio.wait_for(first_new_frame(), 10)
    assert first.frame.frame_id > before
