"""Event snapshots on a real frame (the test photos placed in the 1280x720 scene): stored
clean, served with the box and tag drawn the way the live stream draws them, or cropped."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.devtools.trajectories import TrajectoryScene, actors
from appliance.events.snapshots import (
    SnapshotError,
    colour_for,
    crop_rect,
    encode_snapshot,
    render_snapshot,
)
from appliance.pipeline.annotate import colour_for as stream_colour

DATA = Path(__file__).resolve().parent.parent / "data"
INDEX = 20  # a frame where the cat is in full view, clear of the people


@pytest.fixture(scope="module")
def scene() -> TrajectoryScene:
    photos = {
        "astronaut.jpg": cv2.imread(str(DATA / "astronaut.png")),
        "chelsea.jpg": cv2.imread(str(DATA / "chelsea.png")),
    }
    return TrajectoryScene(actors(), photos, loop_s=8.0, fps=15.0)


@pytest.fixture(scope="module")
def frame(scene: TrajectoryScene) -> np.ndarray:
    return scene.render(INDEX)


@pytest.fixture(scope="module")
def cat(scene: TrajectoryScene) -> tuple[float, float, float, float]:
    (box,) = (b for b in scene.truth(INDEX) if b.label == "cat")
    assert box.visibility == 1.0
    return box.x1, box.y1, box.x2, box.y2


def decode(data: bytes) -> np.ndarray:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_the_stored_snapshot_is_the_clean_frame(frame: np.ndarray, cat: tuple) -> None:
    stored = encode_snapshot(frame)
    assert difference(decode(stored), frame) < 3  # JPEG at quality 85
    assert render_snapshot(stored, cat, "cat", 0.87, bbox=False) == stored


def test_bbox_draws_the_box_and_tag_in_the_stream_colour(frame: np.ndarray, cat: tuple) -> None:
    stored = encode_snapshot(frame)
    clean = decode(stored)
    drawn = decode(render_snapshot(stored, cat, "cat", 0.87, class_id=15))
    assert drawn.shape == frame.shape
    x1, y1, x2, y2 = (int(v) for v in cat)
    middle = (y1 + y2) // 2
    edge = drawn[middle - 10 : middle + 10, x1 - 1 : x1 + 2].reshape(-1, 3).mean(axis=0)
    assert np.abs(edge - np.array(colour_for(15))).max() < 40, edge
    tag = drawn[y1 - 12 : y1 - 2, x1 + 2 : x1 + 60]  # the `cat 0.87` label above the box
    assert difference(tag, clean[y1 - 12 : y1 - 2, x1 + 2 : x1 + 60]) > 40
    inside = (slice(y1 + 20, y2 - 20), slice(x1 + 20, x2 - 20))
    assert difference(drawn[inside], clean[inside]) < 2  # the object itself is not painted over


def test_crop_returns_the_object_with_a_margin(
    scene: TrajectoryScene, frame: np.ndarray, cat: tuple
) -> None:
    stored = encode_snapshot(frame)
    cropped = decode(render_snapshot(stored, cat, "cat", 0.87, bbox=False, crop=True))
    left, top, right, bottom = crop_rect(cat, 1280, 720)
    assert cropped.shape == (bottom - top, right - left, 3)
    x1, y1, x2, y2 = cat
    assert left < x1 and top < y1 and right > x2 and bottom > y2  # the whole box, and more
    assert (right - left) < 1.5 * (x2 - x1) and (bottom - top) < 1.5 * (y2 - y1)
    # what is in the crop is the cat photo where the scene placed it
    (_, (px, py, pw, ph)) = next(p for p in scene.places(INDEX) if p[0].label == "cat")
    photo = cv2.imread(str(DATA / "chelsea.png"))
    printed = cv2.resize(photo, (pw - 8, ph - 8), interpolation=cv2.INTER_AREA)
    ox, oy = px + 4 - left, py + 4 - top  # the print's inner corner, in the crop
    visible = cropped[max(oy, 0) : oy + ph - 8, max(ox, 0) : ox + pw - 8]
    expected = printed[max(-oy, 0) :, max(-ox, 0) :][: visible.shape[0], : visible.shape[1]]
    assert visible.size > 0.6 * printed.size
    assert difference(visible, expected) < 6


def test_crop_with_bbox_keeps_the_tag_inside_the_crop(frame: np.ndarray, cat: tuple) -> None:
    stored = encode_snapshot(frame)
    plain = decode(render_snapshot(stored, cat, "cat", 0.87, bbox=False, crop=True))
    drawn = decode(render_snapshot(stored, cat, "cat", 0.87, crop=True, class_id=15))
    assert drawn.shape == plain.shape
    left, top, *_ = crop_rect(cat, 1280, 720)
    x1, y1 = int(cat[0]) - left, int(cat[1]) - top  # the box's corner in the crop
    tag = (slice(y1 - 12, y1 - 2), slice(x1 + 2, x1 + 60))  # `cat 0.87` above the box
    assert y1 > 12 and difference(drawn[tag], plain[tag]) > 40


def test_a_crop_is_kept_inside_the_frame(frame: np.ndarray) -> None:
    stored = encode_snapshot(frame)
    corner = decode(render_snapshot(stored, (-30, -30, 60, 50), "cat", 0.5, crop=True))
    assert corner.shape[:2] == crop_rect((-30, -30, 60, 50), 1280, 720)[2:][::-1]
    assert crop_rect((1250, 700, 1400, 900), 1280, 720) == (1227, 670, 1280, 720)
    assert crop_rect((2000, 2000, 2100, 2100), 1280, 720) == (1279, 719, 1280, 720)
    outside = decode(render_snapshot(stored, (2000, 2000, 2100, 2100), "cat", 0.5, crop=True))
    assert outside.shape[:2] == (1, 1)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\xff\xd8" + b"\x00" * 100],
    ids=["empty", "garbage", "header-only"],
)
def test_a_corrupt_snapshot_raises_snapshot_error(data: bytes, cat: tuple) -> None:
    with pytest.raises(SnapshotError) as caught:
        render_snapshot(data, cat, "cat", 0.5)
    assert caught.value.code == "snapshot_unreadable"


def test_a_truncated_snapshot_raises_snapshot_error(frame: np.ndarray, cat: tuple) -> None:
    stored = encode_snapshot(frame)
    with pytest.raises(SnapshotError, match="truncated"):
        render_snapshot(stored[: len(stored) // 2], cat, "cat", 0.5)


def test_bad_boxes_and_pixels_are_refused(frame: np.ndarray) -> None:
    stored = encode_snapshot(frame)
    with pytest.raises(ValueError, match="four finite numbers"):
        render_snapshot(stored, (0, 0, float("nan"), 10), "cat", 0.5)
    with pytest.raises(ValueError, match="BGR uint8"):
        encode_snapshot(frame[:, :, 0])


def test_the_colours_are_the_live_streams() -> None:
    assert all(colour_for(i) == stream_colour(i) for i in range(80))
