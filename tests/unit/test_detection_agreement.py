"""Agreement between two models' detections (the INT8 build's check): one-to-one matches at
IoU >= 0.5 with the same label, as F1."""

from __future__ import annotations

from appliance.domain import Detection
from appliance.models.agreement import agreement


def box(label: str, x1: float, y1: float, x2: float, y2: float) -> Detection:
    return Detection(label, 0, 0.9, x1, y1, x2, y2)


def test_identical_detections_agree_fully() -> None:
    found = [[box("cat", 0, 0, 10, 10), box("cup", 20, 20, 40, 40)], []]
    assert agreement(found, found).f1 == 1.0
    assert agreement([[], []], [[], []]).f1 == 1.0  # nothing found by either: no disagreement


def test_other_labels_far_boxes_and_doubles_do_not_match() -> None:
    reference = [[box("cat", 0, 0, 10, 10), box("cup", 20, 20, 40, 40)]]
    candidate = [[
        box("dog", 0, 0, 10, 10),      # another label on the cat
        box("cup", 30, 30, 50, 50),    # IoU 1/7 with the cup
        box("cat", 1, 1, 10, 10),      # the cat: IoU 0.81
        box("cat", 0, 0, 10, 11),      # a second cat box on the same cat: one match only
    ]]  # fmt: skip
    result = agreement(reference, candidate)
    assert (result.reference, result.candidate, result.matched) == (2, 4, 1)
    assert result.f1 == 2 * 1 / 6
    assert result.summary()["f1"] == round(1 / 3, 4)
