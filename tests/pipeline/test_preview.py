"""The preview variant: frames at most 640 px wide for tiles, boxes drawn where the objects
are, encoded once and only while someone watches it."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from helpers import compose_scene

from appliance.domain import (
    Detection,
    DetectionResult,
    Frame,
    ModelRef,
    ProcessedFrame,
    StageTimings,
)
from appliance.pipeline.broadcast import PREVIEW_WIDTH, Broadcaster

pytestmark = pytest.mark.anyio


def processed_scene(frame_id: int) -> ProcessedFrame:
    scene = compose_scene()  # 1280x720, the cat somewhere in it
    x1, y1, x2, y2 = scene.where["cat"]
    cat = Detection("cat", 15, 0.9, x1, y1, x2, y2)
    frame = Frame("cam", frame_id, time.time(), time.monotonic(), scene.pixels)
    result = DetectionResult(ModelRef("m", "1"), 1280, 720, (cat,), StageTimings())
    return ProcessedFrame(frame, result, {})


async def test_preview_is_small_and_boxed_in_the_right_place():
    broadcaster = Broadcaster("cam")
    try:
        small_view, full_view = broadcaster.watch((True, True)), broadcaster.watch((True, False))
        async with small_view as tiles, full_view as big:
            broadcaster.publish(processed_scene(1))
            small = await tiles.next(timeout=5)
            full = await big.next(timeout=5)
        assert small is not None and full is not None
        assert small.jpeg is not None and full.jpeg is not None
        tile = cv2.imdecode(np.frombuffer(small.jpeg, np.uint8), cv2.IMREAD_COLOR)
        large = cv2.imdecode(np.frombuffer(full.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert tile.shape == (360, PREVIEW_WIDTH, 3)
        assert large.shape == (720, 1280, 3)
        assert small.preview and not full.preview
        # the box drawn on the preview sits where the full frame's box is, scaled by half
        shrunk = cv2.resize(large, (PREVIEW_WIDTH, 360), interpolation=cv2.INTER_AREA)
        difference = np.abs(tile.astype(int) - shrunk.astype(int)).mean()
        assert difference < 12, difference
        assert len(small.jpeg) < len(full.jpeg) / 2
    finally:
        broadcaster.close()
        broadcaster.join()


async def test_preview_is_encoded_only_while_watched():
    broadcaster = Broadcaster("cam")
    try:
        async with broadcaster.watch((True, False)) as viewer:
            broadcaster.publish(processed_scene(1))
            assert await viewer.next(timeout=5) is not None
        assert broadcaster.variants[(True, True)].peek()[1] is None
        assert broadcaster.encodes == 1
    finally:
        broadcaster.close()
        broadcaster.join()
