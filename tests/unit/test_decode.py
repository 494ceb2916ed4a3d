"""Letterbox, output-family detection, decoding and per-class NMS."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.domain import DetectParams
from appliance.errors import UnsupportedModelError
from appliance.models.decode import (
    Letterbox,
    OutputFamily,
    decode,
    detect_family,
    letterbox,
    letterbox_batch,
    nms,
    to_tensor,
)

LABELS = ("a", "b", "c")


def test_letterbox_keeps_aspect_and_centres() -> None:
    """A 200x100 (w x h) image in a 64x64 input is scaled by 0.32 and padded top and bottom."""
    image = np.full((100, 200, 3), 255, np.uint8)
    canvas, box = letterbox(image, (64, 64))
    assert canvas.shape == (64, 64, 3)
    assert box == Letterbox(scale=0.32, pad_x=0, pad_y=16)
    assert (
        (canvas[:16] == 114).all() and (canvas[16:48] == 255).all() and (canvas[48:] == 114).all()
    )


def test_to_tensor_is_rgb_nchw_unit_range() -> None:
    """BGR uint8 canvases become one RGB float batch in 0..1."""
    canvas = np.zeros((4, 4, 3), np.uint8)
    canvas[..., 0] = 255  # blue in BGR
    batch = to_tensor([canvas, canvas])
    assert batch.shape == (2, 3, 4, 4) and batch.dtype == np.float32
    assert batch[0, 2].max() == 1.0 and batch[0, 0].max() == 0.0


@pytest.mark.parametrize(
    ("sizes", "input_hw"),
    [
        ([(416, 416)], (416, 416)),  # the input's own size: no resize, no border
        ([(360, 640), (720, 1280)], (416, 416)),  # wider: borders above and below
        ([(640, 360)], (416, 416)),  # taller: borders left and right
        ([(37, 501), (3, 2)], (416, 416)),  # odd sizes, a tiny one enlarged
        ([(720, 1280), (480, 480)], (384, 640)),  # a wide input
    ],
)
def test_letterbox_batch_equals_the_canvases_tensor(
    sizes: list[tuple[int, int]], input_hw: tuple[int, int]
) -> None:
    """Letterboxing straight into the batch gives exactly what letterbox + to_tensor give."""
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in sizes]
    batch, boxes = letterbox_batch(images, input_hw, 127)
    placed = [letterbox(image, input_hw, 127) for image in images]
    assert boxes == [box for _, box in placed]
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, to_tensor([canvas for canvas, _ in placed]))


def test_letterbox_batch_refuses_an_image_that_is_not_bgr() -> None:
    with pytest.raises(ValueError, match="BGR"):
        letterbox_batch([np.zeros((10, 10), np.uint8)], (416, 416))


@pytest.mark.parametrize(
    ("shape", "classes", "family"),
    [
        ((25200, 85), 80, OutputFamily.YOLOV5),
        ((84, 8400), 80, OutputFamily.YOLOV8),
        ((300, 6), 80, OutputFamily.END2END),
        ((6300, 6), 1, OutputFamily.YOLOV5),  # one class: 5+1 columns, many rows
        ((25200, 85), None, OutputFamily.YOLOV5),
        ((84, 8400), None, OutputFamily.YOLOV8),
        ((300, 6), None, OutputFamily.END2END),
    ],
)
def test_family_from_shape(
    shape: tuple[int, int], classes: int | None, family: OutputFamily
) -> None:
    """The output family follows from the output shape (and the label count when known)."""
    assert detect_family(shape, classes) is family


@pytest.mark.parametrize(("shape", "classes"), [((10, 10), 80), (("n", 85), 80), ((3, 4, 5), None)])
def test_unknown_shapes_are_refused(shape: tuple, classes: int | None) -> None:
    """A shape that fits no family is an UnsupportedModelError, not a wrong guess."""
    with pytest.raises(UnsupportedModelError):
        detect_family(shape, classes)


def _v5_row(
    cx: float, cy: float, w: float, h: float, obj: float, scores: list[float]
) -> list[float]:
    return [cx, cy, w, h, obj, *scores]


def test_yolov5_scores_are_objectness_times_class_and_boxes_map_back() -> None:
    """Score = obj x class; boxes return to original pixels through the letterbox."""
    output = np.array(
        [
            _v5_row(32, 32, 20, 10, 0.9, [0.1, 0.9, 0.0]),  # b: 0.81
            _v5_row(10, 10, 4, 4, 0.5, [0.4, 0.0, 0.0]),  # a: 0.20, under conf
        ],
        np.float32,
    )
    box = Letterbox(scale=0.5, pad_x=0, pad_y=8)
    found = decode(output, OutputFamily.YOLOV5, box, (96, 128), DetectParams(conf=0.25), LABELS)
    assert len(found) == 1
    d = found[0]
    assert (d.label, d.class_id, d.confidence) == ("b", 1, pytest.approx(0.81, abs=1e-4))
    assert (d.x1, d.y1, d.x2, d.y2) == (44.0, 38.0, 84.0, 58.0)


def test_yolov8_layout_is_transposed_with_no_objectness() -> None:
    """[4+C, N] rows are read column-wise; the best class score is the confidence."""
    output = np.array(
        [[50, 10], [50, 10], [20, 4], [20, 4], [0.1, 0.0], [0.2, 0.0], [0.7, 0.3]], np.float32
    )
    found = decode(
        output, OutputFamily.YOLOV8, Letterbox(1, 0, 0), (100, 100), DetectParams(), LABELS
    )
    assert [(d.label, d.confidence) for d in found] == [
        ("c", pytest.approx(0.7)),
        ("c", pytest.approx(0.3)),
    ]


def test_end2end_rows_are_boxes_already_and_skip_nms() -> None:
    """[N, 6] rows are x1 y1 x2 y2 score class; overlapping rows are not suppressed again."""
    output = np.array(
        [[0, 0, 10, 10, 0.9, 2], [0, 0, 10, 10, 0.8, 2], [0, 0, 1, 1, 0.1, 0]], np.float32
    )
    found = decode(
        output, OutputFamily.END2END, Letterbox(1, 0, 0), (50, 50), DetectParams(), LABELS
    )
    assert [(d.label, d.confidence) for d in found] == [("c", 0.9), ("c", 0.8)]


def test_class_filter_and_max_det() -> None:
    """`classes` keeps only those ids; `max_det` keeps the best N."""
    rows = [_v5_row(10 + 30 * i, 10, 8, 8, 1.0, [0.9 - i * 0.1, 0.0, 0.5]) for i in range(4)]
    output = np.array(rows, np.float32)
    params = DetectParams(conf=0.1, classes=frozenset({0}), max_det=2)
    found = decode(output, OutputFamily.YOLOV5, Letterbox(1, 0, 0), (200, 200), params, LABELS)
    assert [d.confidence for d in found] == [pytest.approx(0.9), pytest.approx(0.8)]
    assert {d.label for d in found} == {"a"}


def test_nms_suppresses_within_a_class_only() -> None:
    """Two overlapping boxes of one class keep the better; another class's box survives."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, classes, iou=0.5).tolist() == [0, 2, 3]
    assert nms(boxes, scores, classes, iou=0.9).tolist() == [0, 1, 2, 3]
    assert nms(boxes[:0], scores[:0], classes[:0], iou=0.5).tolist() == []
