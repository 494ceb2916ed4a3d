"""Drawing a line or zone: clicks become normalised points, the draft knows when it is
complete, and its SVG shows the segment with its `in` arrow or the polygon."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import ValidationError

from appliance.config import ZoneConfig
from ui import formatting
from ui.scene_draft import ZONE_MOST_POINTS, Draft, name_problem

W, H = 1280, 720


def test_a_line_takes_two_clicks_as_fractions_of_the_picture():
    draft = Draft("line")
    assert draft.add(320, 180, W, H) and not draft.complete
    assert draft.add(960, 540, W, H) and draft.complete
    assert not draft.add(10, 10, W, H)  # full: further clicks are ignored
    assert draft.points == [(0.25, 0.25), (0.75, 0.75)]
    assert draft.line_config(["person"]).points == [(0.25, 0.25), (0.75, 0.75)]
    draft.swap()
    assert draft.points == [(0.75, 0.75), (0.25, 0.25)]


def test_clicks_on_the_edge_stay_inside_the_picture():
    draft = Draft("line")
    draft.add(-3, 100.3, W, H)
    draft.add(1281, 720.5, W, H)
    assert draft.points == [(0.0, round(100.3 / H, 4)), (1.0, 1.0)]


def test_a_zone_closes_on_its_first_point_and_stops_at_the_bound():
    draft = Draft("zone")
    for x, y in [(100, 100), (400, 100), (400, 400)]:
        draft.add(x, y, W, H)
    assert draft.complete and draft.taking_points
    assert draft.add(105, 98, W, H)  # next to the first corner: closes, adds nothing
    assert draft.closed and not draft.taking_points and len(draft.points) == 3
    draft.undo()
    assert not draft.closed and len(draft.points) == 3
    many = Draft("zone")
    for i in range(ZONE_MOST_POINTS + 5):
        angle = 2 * math.pi * i / (ZONE_MOST_POINTS + 5)
        many.add(600 + 300 * math.cos(angle), 360 + 300 * math.sin(angle), W, H)
    assert len(many.points) == ZONE_MOST_POINTS
    ZoneConfig(points=many.points)  # the bound is the configuration's own


def test_a_crossing_zone_is_refused_by_the_configuration():
    draft = Draft("zone")
    for x, y in [(100, 100), (500, 500), (500, 100), (100, 500)]:  # a bow tie
        draft.add(x, y, W, H)
    with pytest.raises(ValidationError, match="cross itself"):
        draft.zone_config(None)


def test_the_line_svg_points_its_arrow_to_the_in_side():
    """`in` is the normal (dy, -dx): for a line drawn left to right, upwards (y down)."""
    draft = Draft("line")
    draft.add(320, 400, W, H)
    draft.add(960, 400, W, H)
    svg = draft.svg(W, H)
    assert 'x1="320.0" y1="400.0" x2="960.0" y2="400.0"' in svg
    tip = re.search(r'<polygon points="([\d.]+),([\d.]+) ', svg)
    assert tip and float(tip[1]) == pytest.approx(640) and float(tip[2]) < 400
    assert ">in</text>" in svg
    draft.swap()
    tip = re.search(r'<polygon points="([\d.]+),([\d.]+) ', draft.svg(W, H))
    assert tip and float(tip[2]) > 400


def test_the_zone_svg_grows_from_dots_to_a_polygon():
    draft = Draft("zone")
    draft.add(100, 100, W, H)
    assert "<circle" in draft.svg(W, H) and "<poly" not in draft.svg(W, H)
    draft.add(300, 100, W, H)
    assert "<polyline" in draft.svg(W, H)
    draft.add(300, 300, W, H)
    assert '<polygon points="100.0,100.0 300.0,100.0 300.0,300.0"' in draft.svg(W, H)


@pytest.mark.parametrize(
    ("name", "problem"),
    [("door", None), ("bench_2", None), ("a-b", None), ("", "Give it a name")],
)
def test_names_follow_the_url_rule(name: str, problem: str | None):
    assert name_problem(name) == problem


@pytest.mark.parametrize("name", ["Door", "-door", "front door", "x" * 41, "café"])
def test_bad_names_say_the_rule(name: str):
    assert "a-z, 0-9, - and _" in (name_problem(name) or "")


def test_counts_read_as_text():
    counts = {"in": {"person": 2, "cat": 1}, "out": {"person": 1}}
    assert formatting.line_totals(counts) == "in 3 · out 1"
    assert formatting.line_by_label(counts) == "person 2 in 1 out · cat 1 in 0 out"
    assert formatting.line_totals({"in": {}, "out": {}}) == "in 0 · out 0"
    assert formatting.by_label({"cat": 1, "person": 2, "cup": 0}) == "person 2, cat 1"
