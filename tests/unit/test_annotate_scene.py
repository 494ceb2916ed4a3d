"""Lines and zones drawn on the annotated stream: the line with its arrow, zones tinted only
while occupied, tracked boxes named by their track."""

from __future__ import annotations

import numpy as np

from appliance.domain import Detection, LineOverlay, SceneOverlay, ZoneOverlay
from appliance.pipeline.annotate import draw_detections
from appliance.pipeline.scene_layer import SceneLayer, SceneLayers
from appliance.pipeline.status_line import draw_overlay

GREY = np.full((360, 640, 3), 90, np.uint8)
ZONE = ((0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.1, 0.5))


def test_an_occupied_zone_is_tinted_and_an_empty_one_only_outlined() -> None:
    empty = draw_detections(GREY, [], SceneOverlay(zones=(ZoneOverlay("bench", ZONE, 0),)))
    full = draw_detections(GREY, [], SceneOverlay(zones=(ZoneOverlay("bench", ZONE, 2),)))
    centre = (108, 160)  # inside the zone, away from its outline and tag
    assert (empty[centre] == 90).all() and not (full[centre] == 90).all()
    assert (full[300, 600] == 90).all()  # outside: untouched
    assert (GREY == 90).all()  # the frame itself is never drawn on


def test_a_line_is_drawn_with_its_in_arrow_and_counts() -> None:
    line = LineOverlay("door", ((0.5, 0.0), (0.5, 1.0)), 3, 1)
    drawn = draw_detections(GREY, [], SceneOverlay(lines=(line,)))
    column = drawn[100:300, 320].astype(int)
    assert ((column[:, 0] < 80) & (column[:, 1] > 170) & (column[:, 2] > 200)).mean() > 0.9
    # the arrow points to the `in` side: right of a line drawn top to bottom
    assert not (drawn[180, 335:345] == 90).all() and (drawn[180, 295:305] == 90).all()


def test_a_tracked_box_is_named_by_its_track() -> None:
    plain = Detection("person", 0, 0.9, 100, 100, 300, 300)
    tracked = Detection("person", 0, 0.9, 100, 100, 300, 300, track_id=12)
    # a longer tag ("person #12 0.90") covers more of the box's top edge
    tag_width = [
        int((draw_detections(GREY, [d])[88:96, 100:400] != 90).any(axis=(0, 2)).sum())
        for d in (plain, tracked)
    ]
    assert tag_width[1] > tag_width[0]


def test_a_stream_lays_the_same_scene_from_its_layers_and_redraws_when_counts_change() -> None:
    noisy = np.random.default_rng(3).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    zone = ZoneOverlay("bench", ZONE, 1)
    before = SceneOverlay((LineOverlay("door", ((0.2, 0.1), (0.7, 0.9)), 3, 1),), (zone,))
    after = SceneOverlay((LineOverlay("door", ((0.2, 0.1), (0.7, 0.9)), 4, 1),), (zone,))
    layers = SceneLayers(keep=1)
    for overlay in (before, after, before):
        once = draw_detections(noisy, [], overlay)
        laid = draw_detections(noisy, [], overlay, layers=layers)
        assert np.array_equal(once, laid)
    assert not np.array_equal(
        draw_detections(noisy, [], before, layers=layers),
        draw_detections(noisy, [], after, layers=layers),
    )


def test_every_occupied_zone_tints_only_its_polygon_however_many_there_are() -> None:
    """Zones past the layer's memory budget (one frame of tints) are tinted from their mask
    instead: the picture is the same. An L-shaped zone leaves the notch of its box alone."""
    ell = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0))
    zones = tuple(ZoneOverlay(f"z{index}", ell, 1) for index in range(3))
    layer = SceneLayer(SceneOverlay(zones=zones), *GREY.shape[:2])
    assert [fill.shift is not None for fill in layer.fills] == [True, False, False]
    drawn = draw_detections(GREY, [], SceneOverlay(zones=zones), layers=SceneLayers())
    assert drawn[250, 150].tolist() == [255, 90 + 3 * 30, 90]  # B (saturated), G, R: 3 tints
    assert (drawn[270, 480] == 90).all()  # in the box, outside the polygon


def test_a_zone_drawn_from_the_corner_keeps_its_tag_clear_of_the_status_line() -> None:
    """The stream writes its status line (fps, latency) over the top-left corner last: a zone
    starting there has its tag put below that line, not hidden under it."""
    left_half = ZoneOverlay("left", ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)), 1)
    layers = SceneLayers(under_status_line=True)
    drawn = draw_detections(GREY, [], SceneOverlay(zones=(left_half,)), layers=layers)
    draw_overlay(drawn, "15.0 fps  52 ms  held")
    tag_ground = (drawn == 30).all(axis=2)  # the tags' dark background
    assert tag_ground.sum() > 100
