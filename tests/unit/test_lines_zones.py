"""Line crossings and zone occupancy of tracked objects: the pure counting logic."""

from __future__ import annotations

from appliance.analytics.geometry import crosses_segment, inside_polygon, is_simple_polygon
from appliance.analytics.lines import LineCounter, LineCounts, LineSpec
from appliance.analytics.zones import ZoneCounter, ZoneSpec
from appliance.domain import Detection

SIZE = (1000, 1000)


def person(track_id: int | None, foot_x: float, foot_y: float, class_id: int = 0) -> Detection:
    """A 100x300 px box standing at the normalised point (foot_x, foot_y)."""
    x, y = foot_x * SIZE[0], foot_y * SIZE[1]
    label = "person" if class_id == 0 else "cat"
    return Detection(label, class_id, 0.9, x - 50, y - 300, x + 50, y, track_id=track_id)


def walk(counter: LineCounter, xs: list[float], y: float = 0.6, track_id: int = 1) -> list[str]:
    seen = []
    for step, x in enumerate(xs):
        for crossing in counter.update([person(track_id, x, y)], SIZE, now=step / 15):
            seen.append(crossing.direction)
    return seen


def vertical_line(**kwargs: object) -> LineCounter:
    return LineCounter("door", LineSpec(((0.5, 0.0), (0.5, 1.0)), **kwargs))  # type: ignore[arg-type]


def test_left_to_right_is_in_for_a_line_drawn_top_to_bottom() -> None:
    line = vertical_line()
    assert walk(line, [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]) == ["in"]
    assert walk(line, [0.8, 0.6, 0.45, 0.3], track_id=2) == ["out"]
    assert line.counts.as_dict() == {"in": {"person": 1}, "out": {"person": 1}}


def test_swapping_the_points_swaps_in_and_out() -> None:
    line = LineCounter("door", LineSpec(((0.5, 1.0), (0.5, 0.0))))
    assert walk(line, [0.2, 0.4, 0.6, 0.8]) == ["out"]


def test_horizontal_line_normal_points_up_in_image_coordinates() -> None:
    # from (0, 0.5) to (1, 0.5): dx = 1, dy = 0, normal (0, -1) points up (y down)
    line = LineCounter("road", LineSpec(((0.0, 0.5), (1.0, 0.5))))
    seen = []
    for step, y in enumerate([0.9, 0.7, 0.55, 0.4, 0.2]):
        seen += [c.direction for c in line.update([person(1, 0.5, y)], SIZE, now=step)]
    assert seen == ["in"]


def test_jitter_on_the_line_and_straddling_count_once() -> None:
    line = vertical_line()
    xs = [0.3, 0.4, 0.495, 0.505, 0.497, 0.503, 0.499, 0.5, 0.501] * 5 + [0.6, 0.58, 0.62]
    assert walk(line, xs) == ["in"]


def test_a_crossing_seen_across_dropped_frames_counts_once() -> None:
    line = vertical_line()
    assert walk(line, [0.2, 0.3]) == []
    # the tracker lost the box for a while; it comes back on the far side
    assert [c.direction for c in line.update([person(1, 0.8, 0.6)], SIZE, now=1.0)] == ["in"]
    assert [c.direction for c in line.update([person(1, 0.85, 0.6)], SIZE, now=1.1)] == []


def test_walking_round_the_end_of_the_line_does_not_count() -> None:
    line = LineCounter("door", LineSpec(((0.5, 0.1), (0.5, 0.5))))
    assert walk(line, [0.2, 0.4, 0.6, 0.8], y=0.8) == []
    assert walk(line, [0.2, 0.4, 0.6, 0.8], y=0.3, track_id=2) == ["in"]


def test_only_tracked_objects_of_the_line_classes_count() -> None:
    line = vertical_line(classes=frozenset({15}))
    assert walk(line, [0.2, 0.4, 0.6, 0.8]) == []  # a person, the line counts cats
    seen = []
    for step, x in enumerate([0.2, 0.4, 0.6, 0.8]):
        cat = person(7, x, 0.6, class_id=15)
        untracked = person(None, x, 0.6, class_id=15)
        seen += [c.label for c in line.update([cat, untracked], SIZE, now=step)]
    assert seen == ["cat"]


def test_counts_reset_and_restore_from_saved() -> None:
    counts = LineCounts({"in": {"person": 4}, "out": {}})
    line = LineCounter("door", LineSpec(((0.5, 0.0), (0.5, 1.0))), counts)
    walk(line, [0.2, 0.4, 0.6])
    assert counts.as_dict() == {"in": {"person": 5}, "out": {}}
    assert counts.totals() == (5, 0)
    counts.reset()
    assert counts.as_dict() == {"in": {}, "out": {}}


def zone(**kwargs: object) -> ZoneCounter:
    square = ((0.4, 0.4), (0.8, 0.4), (0.8, 0.8), (0.4, 0.8))
    return ZoneCounter("bench", ZoneSpec(square, **kwargs))  # type: ignore[arg-type]


def test_zone_counts_an_object_after_inertia_frames_inside() -> None:
    bench = zone(inertia=3)
    changes = []
    for step in range(2):
        changes += bench.update([person(1, 0.6, 0.6)], SIZE, now=step / 15)
    bench.update([person(1, 0.2, 0.2)], SIZE, now=2 / 15)  # out again: flicker
    assert changes == [] and bench.occupancy() == {}
    for step in range(3, 6):
        changes += bench.update([person(1, 0.6, 0.6)], SIZE, now=step / 15)
    assert [(c.change, c.track_id) for c in changes] == [("entered", 1)]
    assert bench.occupancy() == {"person": 1}
    assert bench.counts.as_dict() == {"entered": {"person": 1}}


def test_zone_left_after_inertia_frames_outside_or_when_lost() -> None:
    bench = zone(inertia=2, lost_s=1.0)
    for step in range(3):
        bench.update([person(1, 0.6, 0.6), person(2, 0.7, 0.7)], SIZE, now=step / 15)
    assert bench.occupancy() == {"person": 2}
    left = []
    for step in range(3, 6):  # 1 walks out; 2 is no longer seen at all
        left += bench.update([person(1, 0.1, 0.1)], SIZE, now=step / 15)
    assert [(c.change, c.track_id) for c in left] == [("left", 1)]
    assert bench.occupancy() == {"person": 1}
    left = bench.update([person(1, 0.1, 0.1)], SIZE, now=2.0)
    assert [(c.change, c.track_id) for c in left] == [("left", 2)]
    assert bench.occupancy() == {}
    assert bench.counts.as_dict() == {"entered": {"person": 2}}


def test_loitering_is_raised_once_per_stay() -> None:
    bench = zone(inertia=1, loiter_s=2.0)
    changes = []
    for step in range(40):  # 4 s at 10 fps
        changes += bench.update([person(1, 0.6, 0.6)], SIZE, now=step / 10)
    assert [c.change for c in changes] == ["entered", "loitering"]


def test_geometry() -> None:
    assert crosses_segment((0, 0), (0, 10), (-1, 5), (1, 5))
    assert not crosses_segment((0, 0), (0, 10), (-1, 12), (1, 12))
    assert crosses_segment((0, 0), (0, 10), (-1, 10), (1, 10))  # through the end point
    square = ((0, 0), (10, 0), (10, 10), (0, 10))
    assert inside_polygon(square, (5, 5)) and not inside_polygon(square, (15, 5))
    assert is_simple_polygon(square)
    assert not is_simple_polygon(((0, 0), (10, 10), (10, 0), (0, 10)))  # a bow tie
    assert not is_simple_polygon(((0, 0), (10, 0), (10, 0), (0, 10)))  # a repeated point


def test_a_box_cut_off_by_the_frame_edge_is_inside_a_zone_drawn_to_that_edge() -> None:
    floor = ZoneCounter(
        "floor", ZoneSpec(((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)), inertia=1)
    )
    cut = Detection("cat", 15, 0.9, 100, 600, 400, 1000, track_id=1)  # y2 at the frame's edge
    assert [e.change for e in floor.update([cut], SIZE, now=0.0)] == ["entered"]
