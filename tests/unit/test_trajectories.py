"""The trajectory clip: known paths that cross, a clip OpenCV reads back, a truth the demo
model agrees with."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.analytics.tracker import box_iou
from appliance.devtools.trajectories import TrajectoryScene, write_trajectory_clip
from appliance.domain import DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector


def test_truth_has_two_people_who_cross_and_a_cat_all_on_the_canvas() -> None:
    scene = TrajectoryScene.load()
    truth = scene.ground_truth()
    assert (truth.fps, truth.size, len(truth.frames)) == (15.0, (1280, 720), 120)
    for boxes in truth.frames:
        assert sorted((b.object_id, b.label, b.class_id) for b in boxes) == [
            (1, "person", 0),
            (2, "person", 0),
            (3, "cat", 15),
        ]
        for b in boxes:
            assert 0 <= b.x1 < b.x2 <= 1280 and 0 <= b.y1 < b.y2 <= 720
            assert 250 <= (b.y2 - b.y1) / 0.98 <= 380  # the photos' size the demo model needs
    assert truth.crossings == (30, 91)
    for crossing in truth.crossings:  # person 1 walks behind person 2
        seen = {b.object_id: b.visibility for b in truth.frames[crossing]}
        assert seen[1] < 0.2 and seen[2] > 0.9  # the cat, in front, hides a corner of 2


def test_the_loop_has_no_jump() -> None:
    scene = TrajectoryScene.load()
    first, after_last = scene.places(0), scene.places(scene.frames)
    assert [rect for _, rect in first] == [rect for _, rect in after_last]


def test_variants_move_the_paths_and_still_cross() -> None:
    canonical = TrajectoryScene.load(0).cast
    for seed in (1, 2, 3):
        scene = TrajectoryScene.load(seed)
        assert scene.cast != canonical
        assert len(scene.crossings()) == 2


def test_the_clip_reads_back_with_opencv(tmp_path: Path) -> None:
    truth = write_trajectory_clip(tmp_path / "paths.avi")
    capture = cv2.VideoCapture(str(truth.path))
    try:
        frames = []
        while (read := capture.read())[0]:
            frames.append(read[1])
    finally:
        capture.release()
    assert len(frames) == len(truth.frames)
    assert frames[0].shape == (720, 1280, 3)
    rendered = TrajectoryScene.load().render(40)
    assert np.abs(frames[40].astype(int) - rendered).mean() < 4  # MJPG, not another frame


@pytest.fixture(scope="module")
def demo() -> Detector:
    detector = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    yield detector
    detector.close()


def test_the_demo_model_finds_the_people_and_the_cat_where_the_truth_says(demo: Detector) -> None:
    scene = TrajectoryScene.load()
    found: dict[int, list[bool]] = {}
    for index in range(0, scene.frames, 6):
        (result,) = demo.detect([DecodedImage(scene.render(index))], DetectParams(conf=0.25))
        for b in scene.truth(index):
            if b.visibility < 0.5:
                continue
            same = [d for d in result.detections if d.class_id == b.class_id]
            mine = np.array([[b.x1, b.y1, b.x2, b.y2]])
            boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in same]).reshape(-1, 4)
            found.setdefault(b.object_id, []).append(bool((box_iou(mine, boxes) >= 0.5).any()))
    rates = {k: sum(v) / len(v) for k, v in found.items()}
    assert all(rate >= 0.7 for rate in rates.values()), rates
