"""The Pipeline runtime on real file cameras and the real demo model: routing between two
engines, stages after inference, detect requests on the cameras' worker, one viewer API."""

from __future__ import annotations

import asyncio
import itertools
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
    blue, green = detectors
    pipeline.add("cam")
    await asyncio.to_thread(pipeline.start, "cam", opener(clip), blue, CameraPlan())
    seen: list[ProcessedFrame] = []

    async def watch() -> None:
        async with pipeline.watch("cam", None) as viewer:
            async for frame in viewer:
                seen.append(frame.processed)
                if frame.processed.result.model.name == "green" and len(seen) > 30:
                    break

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(1.0)
    assert pipeline.route({"cam": (green, CameraPlan())}) == ["cam"]
    assert await asyncio.to_thread(pipeline.retire, blue) == []  # nobody left on it
    await asyncio.wait_for(watcher, 30)
    names = [p.result.model.name for p in seen]
    assert names[0] == "blue" and names[-1] == "green"
    assert names == sorted(names)  # blue, then green: never back
    # the switch costs at most one frame more than this (busy) machine skips anyway
    ids = [p.frame.frame_id for p in seen]
    first_green = names.index("green")
    usual = max(b - a for a, b in itertools.pairwise(ids[:first_green]))
    assert ids[first_green] - ids[first_green - 1] <= usual + 1, ids
    assert pipeline.status("cam").model == "green"
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
