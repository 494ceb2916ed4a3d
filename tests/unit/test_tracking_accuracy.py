"""The tracker against known ground truth, scored by py-motmetrics: the trajectory clip's two
people crossing (detections made from its truth: jittered, a tenth dropped, people more than
half hidden left out) and MOTChallenge's TUD-Campus as the motmetrics wheel ships it."""

from __future__ import annotations

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
from appliance.devtools.trajectories import TrajectoryScene


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
