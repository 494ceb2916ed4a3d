"""Baselines and viewers the speed benchmarks share: the bare engine, the naive serial loop
("the simplest thing a user could write") and the pipeline with one viewer taking every
annotated JPEG. Imported by the scripts beside it (run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from appliance.domain import DetectParams
from appliance.imaging import encode_jpeg
from appliance.models.decode import decode, letterbox_batch
from appliance.models.detector import Detector
from appliance.pipeline.annotate import draw_detections
from appliance.pipeline.camera_runtime import CameraPlan
from appliance.pipeline.runtime import Pipeline
from appliance.pipeline.stages import DetectionFilter
from appliance.pipeline.status_line import draw_overlay
from appliance.sources import FrameSource, SourceOptions, open_source

JPEG_QUALITY = 80  # the service's Broadcaster default: the naive loop encodes alike
WARM_S = 0.5  # every window starts counting once each stage has had a frame in hand


def raw_engine(detector: Detector, seconds: float) -> tuple[float, list[float]]:
    """Inferences/s of the bare engine on a ready tensor, and each one's ms."""
    tensor = np.random.default_rng(0).random((1, 3, *detector.input_hw), dtype=np.float32)
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        detector.engine.infer(tensor)
        times.append((time.perf_counter() - t) * 1000)
    return len(times) / sum(times) * 1000, times


def file_opener(clip: Path) -> Callable[[], FrameSource]:
    options = SourceOptions(realtime=False)
    return lambda: open_source(f"file://{clip}", options)


def naive_loop(detector: Detector, clip: Path, seconds: float) -> float:
    """Frames/s of the simplest thing a user could write: one thread reads a frame, runs it
    through letterbox, the engine, decode, drawing and JPEG encoding, then reads the next."""
    capture = cv2.VideoCapture(str(clip))
    params, count, fps = DetectParams(), 0, 0.0
    start = time.monotonic() + WARM_S
    end = start + seconds
    try:
        while (now := time.monotonic()) < end:
            ok, frame = capture.read()
            if not ok:  # the clip ended: loop it
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            tensor, (box,) = letterbox_batch([frame], detector.input_hw, detector.fill)
            output = detector.engine.infer(tensor)[0][0]
            found = decode(output, detector.family, box, frame.shape[:2], params, detector.labels)
            annotated = draw_detections(frame, found)
            draw_overlay(annotated, f"{fps:.1f} fps  {(time.monotonic() - now) * 1000:.0f} ms")
            encode_jpeg(annotated, JPEG_QUALITY)
            done = time.monotonic()
            fps = 1 / (done - now)
            count += start <= done < end
    finally:
        capture.release()
    return count / seconds


def pipeline_with_viewer(detector: Detector, clip: Path, seconds: float) -> float:
    """Frames/s that ONE viewer receives, annotated and JPEG-encoded, from a file camera read
    as fast as inference takes it, run by the Pipeline as the service runs a camera."""
    pipeline = Pipeline()
    pipeline.add("viewed")
    plan = CameraPlan(stages=(DetectionFilter(),))
    pipeline.start("viewed", file_opener(clip), detector, plan, lossless=True)
    try:
        return asyncio.run(take_every_frame(pipeline, seconds))
    finally:
        pipeline.close()


async def take_every_frame(pipeline: Pipeline, seconds: float) -> float:
    """An in-process viewer taking each new annotated JPEG through the one viewer API, as
    the WebSocket route does; its frames/s after WARM_S."""
    count = 0
    start = time.monotonic() + WARM_S
    end = start + seconds
    async with pipeline.watch("viewed", (True, False)) as viewer:
        while time.monotonic() < end:
            if await viewer.next(timeout=5.0) is None:
                raise RuntimeError("the viewer got no frame in 5 s")
            count += start <= time.monotonic() < end
    return count / seconds
