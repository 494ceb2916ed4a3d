"""ByteTracker on hand-made detections: ids over paths, crossings, gaps, classes and time."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.analytics.tracker import ByteTracker, TrackerSettings
from appliance.domain import Detection

FPS = 15.0


def box(
    cx: float, cy: float, w: float = 80, h: float = 160, conf: float = 0.8, label: str = "person"
) -> Detection:
    class_id = {"person": 0, "cat": 15}[label]
    return Detection(label, class_id, conf, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def ids_of(out: tuple[Detection, ...]) -> dict[str, int | None]:
    return {d.label: d.track_id for d in out}


def test_a_straight_path_keeps_one_id_and_returns_the_detections_own_boxes() -> None:
    tracker = ByteTracker()
    seen = []
    for i in range(40):
        detection = box(100 + 12 * i, 300 + 3 * i)
        (out,) = tracker.update([detection], i / FPS)
        assert (out.x1, out.y1, out.x2, out.y2, out.confidence) == (
            detection.x1,
            detection.y1,
            detection.x2,
            detection.y2,
            detection.confidence,
        )
        seen.append(out.track_id)
    assert seen == [1] * 40


def test_people_crossing_keep_their_ids_while_one_is_hidden() -> None:
    """An X: `front` walks left to right, `back` right to left a little higher and smaller;
    where they cross, the one behind is not detected for five frames."""
    tracker = ByteTracker()
    front_ids, back_ids = set(), set()
    hidden = range(13, 18)
    for i in range(32):
        front = box(100 + 20 * i, 200 + 8 * i)
        back = box(720 - 20 * i, 190 + 6 * i, w=70, h=140, conf=0.7)
        found = [front] if i in hidden else [front, back]
        out = tracker.update(found, i / FPS)
        assert len(out) == len(found)
        by_x = {round(d.x1): d.track_id for d in out}
        front_ids.add(by_x[round(front.x1)])
        if i not in hidden:
            back_ids.add(by_x[round(back.x1)])
    assert front_ids == {1}
    assert back_ids == {2}


def test_people_crossing_keep_their_ids_when_both_vanish_a_moment() -> None:
    tracker = ByteTracker()
    history: dict[str, set[int | None]] = {"a": set(), "b": set()}
    for i in range(32):
        a, b = box(100 + 20 * i, 250), box(720 - 20 * i, 260, w=70, h=150)
        if i in (15, 16):
            continue  # nothing detected at the crossing itself
        out = tracker.update([a, b], i / FPS)
        by_x = {round(d.x1): d.track_id for d in out}
        history["a"].add(by_x[round(a.x1)])
        history["b"].add(by_x[round(b.x1)])
    assert history == {"a": {1}, "b": {2}}


def test_classes_never_swap_even_on_the_same_box() -> None:
    """A person and a cat cross with identical boxes at the crossing, and the cat's box is
    missing for two frames there: its track must not take the person's box."""
    tracker = ByteTracker()
    labels_by_id: dict[int | None, set[str]] = {}
    for i in range(30):
        person = box(100 + 20 * i, 300, w=100, h=100)
        cat = box(680 - 20 * i, 300, w=100, h=100, label="cat")
        found = [person] if i in (14, 15) else [person, cat]
        for d in tracker.update(found, i / FPS):
            labels_by_id.setdefault(d.track_id, set()).add(d.label)
    assert labels_by_id == {1: {"person"}, 2: {"cat"}}


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_an_object_missed_for_a_while_keeps_its_id_until_lost_s_has_passed(fps: float) -> None:
    """lost_s counts seconds, not frames: the same gaps at 10 and 30 frames per second."""
    tracker = ByteTracker(TrackerSettings(lost_s=1.0))
    speed = 150.0  # pixels per second
    last_ids = []
    t, step = 0.0, 1 / fps
    for gap in (0.0, 0.7, 1.4):
        end = t + gap
        while t < end - 1e-9:  # out of sight for `gap` seconds
            assert tracker.update([], t) == ()
            t += step
        for _ in range(int(fps)):  # then one second in sight
            out = tracker.update([box(100 + speed * t, 300)], t)
            t += step
        last_ids.append(out[0].track_id)
    assert last_ids == [1, 1, 2]  # back after 0.7 s: the same object; after 1.4 s: a new one


def test_weak_boxes_continue_tracks_but_start_none() -> None:
    settings = TrackerSettings(high=0.5, low=0.1)
    tracker = ByteTracker(settings)
    for i in range(5):
        tracker.update([box(100 + 10 * i, 300, conf=0.9)], i / FPS)
    for i in range(5, 10):  # the same object, now scored below `high`
        (out,) = tracker.update([box(100 + 10 * i, 300, conf=0.2)], i / FPS)
        assert out.track_id == 1
        assert out.confidence == 0.2
    for i in range(10, 20):  # another object, only ever weak: no track, nothing returned
        out_all = tracker.update(
            [box(100 + 10 * i, 300, conf=0.9), box(800, 300, conf=0.3)], i / FPS
        )
        assert [d.track_id for d in out_all] == [1]
    for i in range(20, 30):  # confident, but below new_track (high + 0.1): still none
        out_all = tracker.update(
            [box(100 + 10 * i, 300, conf=0.9), box(800, 300, conf=0.55)], i / FPS
        )
        assert [d.track_id for d in out_all] == [1]
    assert tracker.update([box(800, 300, conf=0.05)], 2.1) == ()  # below `low`: ignored


def test_a_new_track_shows_from_its_second_sighting_except_on_the_first_frame() -> None:
    tracker = ByteTracker()
    assert [d.track_id for d in tracker.update([box(100, 300)], 0.0)] == [1]
    assert [d.track_id for d in tracker.update([box(110, 300), box(600, 300)], 0.1)] == [1]
    out = tracker.update([box(120, 300), box(605, 300)], 0.2)
    assert [d.track_id for d in out] == [1, 2]
    out = tracker.update([box(130, 300), box(900, 300)], 0.3)  # a one-frame false positive
    assert [d.track_id for d in out] == [1]


def test_ids_are_unique_positive_and_survive_a_reset() -> None:
    rng = np.random.default_rng(7)
    tracker = ByteTracker()
    spans: dict[int, tuple[float, float]] = {}
    for wave in range(6):  # six waves of 5 objects, each wave gone before the next comes
        starts = rng.uniform(100, 1100, 5)
        for i in range(20):
            t = wave * 4.0 + i / FPS
            found = [box(x + 5 * i, 150 + 90 * k, w=60, h=80) for k, x in enumerate(starts)]
            for d in tracker.update(found, t):
                assert d.track_id is not None and d.track_id > 0
                first, _ = spans.get(d.track_id, (t, t))
                spans[d.track_id] = (first, t)
        if wave == 3:
            tracker.reset()
    assert sorted(spans) == list(range(1, 31))  # 30 objects, 30 ids, none reused
    assert all(last - first < 2.0 for first, last in spans.values())


def test_the_time_step_follows_capture_times_not_frame_counts() -> None:
    """600 px/s with irregular gaps (up to 0.3 s, more than a box width of motion): the
    prediction must use the real time step to find the box again."""
    rng = np.random.default_rng(3)
    tracker = ByteTracker()
    t, ids, gaps = 0.0, set(), []
    for i in range(40):
        (out,) = tracker.update([box(50 + 600 * t, 300, w=80, h=120)], t)
        ids.add(out.track_id)
        gaps.append(1 / 30 if i < 5 else float(rng.choice([1 / 30, 1 / 15, 0.1, 0.3])))
        t += gaps[-1]
    assert ids == {1}
    assert gaps.count(0.3) >= 5


def test_the_same_path_at_two_frame_rates_gives_one_id() -> None:
    for fps in (5.0, 30.0):  # 200 px/s: 0.5 box width per frame at 5 fps
        tracker = ByteTracker()
        ids = {
            tracker.update([box(50 + 200 * i / fps, 300)], i / fps)[0].track_id
            for i in range(3 * int(fps))
        }
        assert ids == {1}, fps


def test_a_box_inside_a_tracked_box_of_its_class_starts_no_track() -> None:
    tracker = ByteTracker()
    for i in range(10):
        whole = box(300 + 10 * i, 300, w=200, h=300, conf=0.6)
        part = box(300 + 10 * i, 250, w=80, h=100, conf=0.9)  # a face in the whole person
        cat = box(300 + 10 * i, 250, w=80, h=100, conf=0.9, label="cat")  # another class
        out = tracker.update([whole, part, cat], i / FPS)
    assert sorted((d.label, d.track_id) for d in out) == [("cat", 2), ("person", 1)]


def test_only_the_very_first_frame_confirms_at_once() -> None:
    tracker = ByteTracker()
    assert tracker.update([], 0.0) == ()
    assert tracker.update([box(100, 100)], 0.1) == ()  # an empty scene came first
    (out,) = tracker.update([box(104, 100)], 0.2)
    assert out.track_id == 1


def test_a_slow_camera_keeps_its_tracks_between_frames() -> None:
    """Frames 1.25 s apart (a 2 fps camera on a busy engine): longer than lost_s, yet each
    object keeps one id, and a new object still shows from its second sighting."""
    tracker = ByteTracker(TrackerSettings(lost_s=1.0))
    seen: set[int] = set()
    for step in range(12):
        at = step * 1.25
        boxes = [Detection("person", 0, 0.9, 100 + 5 * step, 100, 200 + 5 * step, 300)]
        if step >= 4:  # a cat walks in
            boxes.append(Detection("cat", 15, 0.8, 600 - 5 * step, 400, 700 - 5 * step, 500))
        out = tracker.update(boxes, at)
        seen |= {d.track_id for d in out if d.track_id is not None}
        if step >= 5:
            assert {d.label for d in out} == {"person", "cat"}
    assert len(seen) == 2
