"""The tracker against known ground truth, scored by py-motmetrics: the trajectory clip's two
people crossing (detections made from its truth: jittered, a tenth dropped, people more than
half hidden left out) and MOTChallenge's TUD-Campus as the motmetrics wheel ships it; and the
clip through the real demo model with frames skipped."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from appliance.analytics.tracker import ByteTracker
from appliance.devtools.mot import (
    TUD,
    crossing_switches,
    mot_sequence,
    noisy_detections,
    score,
    track,
)
from appliance.devtools.trajectories import TrajectoryScene, write_trajectory_clip
from appliance.domain import DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector


@pytest.mark.parametrize("paths", [0, 1, 2])  # the canonical paths and two variants
def test_people_crossing_keep_their_ids(paths: int) -> None:
    truth = TrajectoryScene.load(paths).ground_truth()
    assert len(truth.crossings) == 2
    detections = noisy_detections(truth.frames, seed=paths)
    scores = score(truth.frames, track(ByteTracker(), detections, truth.fps), min_visibility=0.5)
    assert scores.idf1 >= 0.8, scores
    assert crossing_switches(scores, truth) == [], scores


def test_tud_campus_scores_above_a_floor() -> None:
    truth = mot_sequence("TUD-Campus")
    assert len(truth) == 71
    detections = noisy_detections(truth, seed=0)
    scores = score(truth, track(ByteTracker(), detections, TUD["TUD-Campus"]))
    assert scores.idf1 >= 0.85, scores
    assert scores.mota >= 0.8, scores


@pytest.mark.parametrize("every", [3, 4])
def test_the_hidden_person_keeps_their_id_when_the_camera_skips_frames(
    tmp_path: Path, every: int
) -> None:
    """Through the real demo model, every 3rd / 4th frame (an engine shared by busy cameras):
    the person walking behind the other is out of sight ~1 s, and the frame that sees them
    again comes up to a frame interval later. Two people, two ids, over two loops."""
    truth = write_trajectory_clip(tmp_path / "walk.avi")
    capture = cv2.VideoCapture(str(truth.path))
    pictures = [read[1] for read in iter(capture.read, (False, None)) if read[0]]
    capture.release()
    detector = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    try:
        found = {
            i: detector.detect([DecodedImage(pictures[i])], DetectParams(conf=0.1))[0].detections
            for i in range(0, len(pictures), every)
        }
    finally:
        detector.close()
    tracker, people = ByteTracker(), set()
    for i in range(0, 2 * len(pictures), every):
        tracked = tracker.update(found[i % len(pictures)], i / truth.fps)
        people |= {d.track_id for d in tracked if d.label == "person"}
    assert len(people) == 2, people
