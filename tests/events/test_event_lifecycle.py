"""From tracks to events: when an event starts, what updates it, when it ends."""

from __future__ import annotations

import itertools

import numpy as np

from appliance.domain import (
    Detection,
    DetectionResult,
    Frame,
    ModelRef,
    ProcessedFrame,
    SceneChange,
    SceneOverlay,
    StageTimings,
)
from appliance.events.lifecycle import EventRules, EventTracker

PIXELS = np.zeros((4, 4, 3), np.uint8)
RULES = EventRules(labels=frozenset({"person", "car"}), min_score=0.5, min_frames=3)
_ids = itertools.count(1)


def person(track_id: int, score: float = 0.8, x: float = 10.0, label: str = "person") -> Detection:
    return Detection(label, 0, score, x, 10.0, x + 20, 60.0, track_id=track_id)


def frame(
    t: float, *detections: Detection, changes: tuple[SceneChange, ...] = ()
) -> ProcessedFrame:
    result = DetectionResult(ModelRef("m", "1"), 640, 480, detections, StageTimings())
    captured = Frame("cam", next(_ids), 1_000_000.0 + t, t, PIXELS)
    overlay = SceneOverlay(changes=changes) if changes else None
    return ProcessedFrame(captured, result, {}, overlay)


def run(tracker: EventTracker, frames: list[ProcessedFrame]) -> list[tuple[str, int]]:
    return [(c.kind, c.after.track_id) for f in frames for c in tracker.update(f)]


def test_an_event_starts_after_min_frames_with_the_time_of_the_first_frame() -> None:
    tracker = EventTracker("cam", RULES)
    assert tracker.update(frame(0.0, person(1))) == []
    assert tracker.update(frame(0.1, person(1))) == []
    (change,) = tracker.update(frame(0.2, person(1, 0.9)))
    assert change.kind == "new" and change.before is None
    assert change.after.start_time == 1_000_000.0 and change.after.end_time is None
    assert change.after.top_score == 0.9 and change.after.camera == "cam"
    assert change.snapshot is not None  # the best frame so far, for the snapshot
    assert tracker.presence() == {"person": 1}


def test_one_frame_false_positives_and_weak_objects_make_no_event() -> None:
    tracker = EventTracker("cam", RULES)
    frames = [frame(0.0, person(1))]  # seen once, then gone
    frames += [frame(0.1 * i, person(2, 0.4)) for i in range(1, 20)]  # never sure enough
    frames += [frame(5.0)]
    assert run(tracker, frames) == []
    assert tracker.presence() == {}


def test_other_labels_and_untracked_boxes_are_ignored() -> None:
    tracker = EventTracker("cam", RULES)
    untracked = Detection("person", 0, 0.9, 0, 0, 5, 5)
    frames = [frame(0.1 * i, person(3, label="cup"), untracked) for i in range(10)]
    assert run(tracker, frames) == []


def test_the_event_ends_when_the_object_is_gone_at_its_last_sighting() -> None:
    tracker = EventTracker("cam", RULES)
    run(tracker, [frame(0.1 * i, person(1)) for i in range(5)])
    assert run(tracker, [frame(0.9)]) == []  # gone 0.5 s: might come back
    (change,) = tracker.update(frame(1.5))  # gone > 1 s: left
    assert change.kind == "end"
    assert change.after.end_time == 1_000_000.4
    assert change.before is not None and change.before.end_time is None
    assert tracker.presence() == {"person": 0}


def test_a_slow_camera_keeps_the_event_open_between_frames() -> None:
    """Frames 1.25 s apart (a 2 fps camera on a busy engine): one object, one event."""
    tracker = EventTracker("cam", RULES)
    kinds = run(tracker, [frame(1.25 * i, person(1)) for i in range(8)])
    assert kinds == [("new", 1)]


def test_zones_and_lines_update_the_event_at_once() -> None:
    tracker = EventTracker("cam", RULES)
    run(tracker, [frame(0.1 * i, person(1)) for i in range(3)])
    entered = SceneChange("zone.entered", "yard", 1, "person")
    crossed = SceneChange("line", "door", 1, "person", "in")
    (zone,) = tracker.update(frame(0.3, person(1), changes=(entered,)))
    assert zone.kind == "update" and zone.after.zones == ("yard",)
    (line,) = tracker.update(frame(0.4, person(1), changes=(crossed,)))
    assert [(c.line, c.direction) for c in line.after.lines] == [("door", "in")]
    assert line.before is not None and line.before.lines == ()
    # entering the same zone again is not news
    assert tracker.update(frame(0.5, person(1), changes=(entered,))) == []


def test_a_better_score_is_reported_at_most_once_a_second_with_its_frame() -> None:
    tracker = EventTracker("cam", RULES)
    run(tracker, [frame(0.1 * i, person(1, 0.6)) for i in range(3)])
    changes = [
        c for i in range(3, 25) for c in tracker.update(frame(0.1 * i, person(1, 0.6 + i / 100)))
    ]
    assert 1 <= len(changes) <= 3
    assert all(c.kind == "update" and c.snapshot is not None for c in changes)
    assert changes[-1].after.top_score > 0.7


def test_expire_ends_events_when_frames_stop_coming() -> None:
    tracker = EventTracker("cam", RULES)
    run(tracker, [frame(0.1 * i, person(1), person(2, x=200)) for i in range(4)])
    assert tracker.expire(0.5) == []
    assert tracker.expire(2.0) == []  # late frames, not a stalled camera
    ended = tracker.expire(10.0)
    assert sorted(c.after.track_id for c in ended) == [1, 2]
    assert all(c.kind == "end" for c in ended)


def test_end_all_closes_every_open_event_and_forgets_candidates() -> None:
    tracker = EventTracker("cam", RULES)
    run(tracker, [frame(0.1 * i, person(1)) for i in range(3)])
    tracker.update(frame(0.3, person(1), person(2, x=300)))  # 2 is still a candidate
    ended = tracker.end_all()
    assert [(c.kind, c.after.track_id) for c in ended] == [("end", 1)]
    assert tracker.update(frame(0.4, person(2, x=300))) == []  # starts over as a candidate
