"""Motion masks drawn like zones (grey, no name), and the motion gate over the picture: saved
masks dark and numbered, regions that moved as rectangles in the picture's pixels."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from appliance.config import MaskConfig
from ui.motion_svg import MOTION_COLOUR, masks_svg, motion_svg
from ui.scene_draft import MASK_COLOUR, ZONE_COLOUR, Draft

W, H = 1280, 720


def test_a_mask_is_drawn_like_a_zone_in_grey_and_closes_on_its_first_point():
    draft = Draft("mask")
    assert draft.hint() == "Click the mask's corners in order (0 of at least 3)"
    for x, y in [(0, 640), (640, 640), (640, 720)]:
        draft.add(x, y, W, H)
    assert draft.add(2, 642, W, H) and draft.closed
    assert draft.hint() == "Mask of 3 corners: save it"
    svg = draft.svg(W, H)
    assert MASK_COLOUR in svg and ZONE_COLOUR not in svg
    assert draft.mask_config().points == [(0.0, 0.8889), (0.5, 0.8889), (0.5, 1.0)]


def test_a_crossing_mask_is_refused_by_the_configuration():
    draft = Draft("mask")
    for x, y in [(100, 100), (500, 500), (500, 100), (100, 500)]:
        draft.add(x, y, W, H)
    with pytest.raises(ValidationError, match="cross itself"):
        draft.mask_config()


def test_saved_masks_are_numbered_in_order_and_none_draws_nothing():
    first = MaskConfig(points=[(0.0, 0.9), (0.5, 0.9), (0.5, 1.0), (0.0, 1.0)])
    second = MaskConfig(points=[(0.8, 0.0), (1.0, 0.0), (1.0, 0.2)])
    svg = masks_svg([first, second], W, H)
    assert '<polygon points="0.0,648.0 640.0,648.0 640.0,720.0 0.0,720.0"' in svg
    assert re.findall(r'data-mask="(\d)"', svg) == ["1", "2"]
    assert ">2</text>" in svg and svg.count("<pattern") == 1
    assert masks_svg([], W, H) == ""


def test_motion_regions_become_rectangles_in_pixels():
    svg = motion_svg([(0.25, 0.5, 0.5, 1.0)], W, H)
    assert '<rect x="320.0" y="360.0" width="320.0" height="360.0"' in svg
    assert MOTION_COLOUR in svg
    assert motion_svg([], W, H) == ""
