"""The demo source: a reproducible animation of real photos that the demo model understands."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from appliance.domain import DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.errors import SourceError
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.sources import SourceOptions, open_source
from appliance.sources.demo_scene import ACTORS, DemoScene, load_asset

FPS = 15.0
FAST = SourceOptions(realtime=False)


@pytest.fixture(scope="module")
def scene() -> DemoScene:
    return DemoScene.load(1280, 720, FPS)


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    loaded = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    yield loaded
    loaded.close()


def test_frames_are_1280x720_bgr_and_the_nth_read_is_frame_n(scene: DemoScene) -> None:
    source = open_source("demo://", FAST)
    assert source.nominal_fps == FPS
    assert source.uri == "demo://"
    source.open()
    frames = [source.read() for _ in range(4)]
    source.close()
    for index, frame in enumerate(frames):
        assert frame.shape == (720, 1280, 3)
        assert frame.dtype == np.uint8
        assert np.array_equal(frame, scene.render(index))


def test_frames_are_deterministic(scene: DemoScene) -> None:
    other = DemoScene.load(1280, 720, FPS)
    for index in (0, 7, 450, 12345):
        assert np.array_equal(scene.render(index), other.render(index))


def test_objects_move_between_frames(scene: DemoScene) -> None:
    body = slice(0, 680)  # above the frame-number caption
    first, later = scene.render(0)[body], scene.render(15)[body]
    changed = np.any(cv2.absdiff(first, later) > 30, axis=2)
    assert changed.mean() > 0.05


def test_photos_stay_large_on_the_canvas_and_overlap_at_times() -> None:
    sizes = {actor.asset: load_asset(actor.asset).shape for actor in ACTORS}
    overlaps = 0
    for step in range(600):  # a minute, every 0.1 s
        rects = []
        for actor in ACTORS:
            h, w = sizes[actor.asset][:2]
            x, y, pw, ph = actor.place(step / 10, 1280, 720, w / h)
            assert 250 <= ph <= 420
            assert x >= 0 and y >= 0 and x + pw <= 1280 and y + ph <= 720
            rects.append((x, y, x + pw, y + ph))
        overlaps += any(
            a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            for a, b in itertools.combinations(rects, 2)
        )
    assert 0 < overlaps < 600


def test_the_demo_model_finds_person_cat_and_cup(scene: DemoScene, detector: Detector) -> None:
    """20 frames spread over the first minute; each object is found in at least 70 % of them."""
    indices = [round(i * 60 * FPS / 20) for i in range(20)]
    found: Counter[str] = Counter()
    for index in indices:
        (result,) = detector.detect([DecodedImage(scene.render(index))], DetectParams(conf=0.35))
        found.update({d.label for d in result.detections})
    for label in ("person", "cat", "cup"):
        assert found[label] >= 0.7 * len(indices), (label, found)


def test_query_and_options_set_size_and_rate() -> None:
    source = open_source("demo://?fps=5&width=640&height=360", SourceOptions(fps=30, width=320))
    assert source.nominal_fps == 5
    source.open()
    assert source.read().shape == (360, 640, 3)
    source.close()
    sized = open_source("demo://", SourceOptions(width=320, height=240, realtime=False))
    sized.open()
    assert sized.read().shape == (240, 320, 3)
    sized.close()


def test_realtime_paces_at_the_frame_rate() -> None:
    source = open_source("demo://?fps=30&width=320&height=180", SourceOptions())
    source.open()
    source.read()
    start = time.monotonic()
    for _ in range(15):
        source.read()
    elapsed = time.monotonic() - start
    source.close()
    assert 0.48 < elapsed < 0.7


def test_close_interrupts_a_paced_read_and_reads_after_it_fail() -> None:
    source = open_source("demo://?fps=0.5&width=320&height=180", SourceOptions())
    with pytest.raises(SourceError, match="not open"):
        source.read()
    source.open()
    source.read()
    closer = threading.Timer(0.2, source.close)
    closer.start()
    start = time.monotonic()
    with pytest.raises(SourceError, match="closed"):
        source.read()
    assert time.monotonic() - start < 1.0
    closer.join()
    source.close()
    with pytest.raises(SourceError):
        source.read()
