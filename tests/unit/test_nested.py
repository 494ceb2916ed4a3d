"""One object, one box: nested boxes of a class merge into the enclosing one (rule and
setting on hand-made boxes), and the demo model, which shows the problem, gives one box per
object on the real photos and demo scene frames where it gave two."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import onnx
import pytest
from helpers import DATA, Scene
from onnx import helper

from appliance.domain import Detection, DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.errors import UnsupportedModelError
from appliance.models.decode import Letterbox, OutputFamily, decode
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.nested import DARKNET_CONTAIN, nested_setting, suppress_nested
from appliance.sources.demo_scene import DemoScene

CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)
CAMERA = DetectParams(conf=0.1)  # the cameras' decode floor; their filter keeps >= 0.25
SHOWN = 0.25


def _run(boxes: list[list[float]], scores: list[float], classes: list[int], contain: float = 0.8):
    """Kept indices and their scores; boxes come in score order, as NMS leaves them."""
    assert scores == sorted(scores, reverse=True)
    kept, merged = suppress_nested(
        np.array(boxes, np.float32), np.array(scores, np.float32), np.array(classes), contain
    )
    return kept.tolist(), [round(float(s), 3) for s in merged[kept]]


def test_a_box_inside_a_higher_scoring_box_of_its_class_goes() -> None:
    assert _run([[0, 0, 100, 200], [20, 40, 70, 180]], [0.9, 0.6], [0, 0]) == ([0], [0.9])


def test_a_higher_scoring_inner_box_gives_its_score_to_the_enclosing_box() -> None:
    """The box stays the whole object's from frame to frame, whichever of the two wins."""
    assert _run([[20, 40, 70, 180], [0, 0, 100, 200]], [0.9, 0.6], [0, 0]) == ([1], [0.9])


def test_a_nested_box_of_another_class_stays() -> None:
    assert _run([[0, 0, 100, 200], [20, 40, 70, 180]], [0.9, 0.6], [0, 1]) == ([0, 1], [0.9, 0.6])


def test_overlapping_side_by_side_boxes_stay() -> None:
    """IoU 0.33, as the nested pairs have, but neither lies inside the other."""
    boxes = [[0, 0, 100, 100], [50, 0, 150, 100]]
    assert _run(boxes, [0.9, 0.8], [0, 0]) == ([0, 1], [0.9, 0.8])


def test_containment_is_a_share_of_the_inner_box() -> None:
    """70 % inside: kept at 0.8, merged at 0.7."""
    boxes = [[0, 0, 100, 100], [30, 10, 130, 90]]  # 70 of 100 wide inside
    assert _run(boxes, [0.9, 0.8], [0, 0], contain=0.8)[0] == [0, 1]
    assert _run(boxes, [0.9, 0.8], [0, 0], contain=0.7)[0] == [0]


def test_a_box_of_no_area_lies_inside_nothing() -> None:
    boxes = [[0, 0, 100, 100], [500, 500, 500, 520]]
    assert _run(boxes, [0.9, 0.8], [0, 0]) == ([0, 1], [0.9, 0.8])


def test_a_group_box_around_two_stronger_boxes_goes_and_they_stay() -> None:
    """Two people side by side boxed together, less surely: two people, not one."""
    boxes = [[10, 10, 90, 190], [110, 10, 190, 190], [0, 0, 200, 200]]
    assert _run(boxes, [0.9, 0.8, 0.5], [0, 0, 0]) == ([0, 1], [0.9, 0.8])


def test_a_part_of_a_part_hands_its_score_up_the_chain() -> None:
    """The smallest lies inside the middle one, but only 60 % inside the largest; the
    middle one scoring above the largest, or below it."""
    smallest, middle, largest = [85, 0, 110, 100], [20, 0, 110, 100], [0, 0, 100, 100]
    assert _run([smallest, middle, largest], [0.95, 0.6, 0.5], [0, 0, 0]) == ([2], [0.95])
    assert _run([smallest, largest, middle], [0.95, 0.7, 0.6], [0, 0, 0]) == ([1], [0.95])


def test_decode_merges_then_orders_by_score_then_applies_max_det() -> None:
    """End-to-end rows (no NMS): the merged box rises above a lone box it now outscores."""
    rows = [
        [0, 0, 40, 80, 0.5, 0],  # a person, and its torso scoring higher
        [100, 0, 140, 40, 0.7, 0],  # another person
        [10, 20, 30, 70, 0.9, 0],
    ]
    output = np.array(rows, np.float32)
    args = (OutputFamily.END2END, Letterbox(1, 0, 0), (200, 200))
    plain = decode(output, *args, DetectParams(conf=0.1), ("person",))
    merged = decode(output, *args, DetectParams(conf=0.1, max_det=1), ("person",), nested=0.8)
    assert [d.confidence for d in plain] == [0.9, 0.7, 0.5]
    assert [(d.confidence, d.x2, d.y2) for d in merged] == [(0.9, 40.0, 80.0)]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"source": "darknet"}, DARKNET_CONTAIN),
        ({}, None),
        ({"source": "darknet", "suppress_nested": "off"}, None),
        ({"suppress_nested": "0.9"}, 0.9),
        ({"suppress_nested": "1"}, 1.0),
    ],
)
def test_the_setting_is_the_models_own_and_on_for_darknet_imports(
    metadata: dict[str, str], expected: float | None
) -> None:
    assert nested_setting(metadata) == expected


@pytest.mark.parametrize("raw", ["1.5", "-0.2", "most"])
def test_a_setting_that_is_no_fraction_refuses_the_model(raw: str) -> None:
    with pytest.raises(UnsupportedModelError, match="suppress_nested"):
        nested_setting({"suppress_nested": raw})


@pytest.fixture(scope="module")
def demo() -> Detector:
    detector = Detector.load("demo", demo_model_path(), CPU)
    yield detector
    detector.close()


@pytest.fixture(scope="module")
def demo_off(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """The demo network with `suppress_nested: off` in its metadata: the behaviour before."""
    model = onnx.load(str(demo_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    helper.set_model_props(model, {**props, "suppress_nested": "off"})
    path = tmp_path_factory.mktemp("nested") / "demo-off.onnx"
    onnx.save(model, str(path))
    detector = Detector.load("demo-off", path, CPU)
    yield detector
    detector.close()


def _counts(detector: Detector, pixels: np.ndarray) -> Counter[str]:
    (result,) = detector.detect([DecodedImage(pixels)], CAMERA)
    return Counter(d.label for d in result.detections if d.confidence >= SHOWN)


def test_the_demo_model_merges_nested_boxes_and_says_so(demo: Detector, demo_off: Detector) -> None:
    assert demo.suppress_nested == DARKNET_CONTAIN and demo_off.suppress_nested is None


def test_one_box_per_photo_in_the_scene(demo: Detector, demo_off: Detector, scene: Scene) -> None:
    """The three photos side by side: each object was found twice or three times."""
    before, after = _counts(demo_off, scene.pixels), _counts(demo, scene.pixels)
    assert before["person"] == 2 and before["cat"] == 2 and before["cup"] == 3
    assert after == Counter({"person": 1, "cat": 1, "cup": 1})


@pytest.mark.parametrize(("photo", "label"), [("astronaut.png", "person"), ("coffee.png", "cup")])
def test_one_box_for_the_object_of_a_test_photo(
    demo: Detector, demo_off: Detector, photo: str, label: str
) -> None:
    """A photo at 40 % of a grey frame's height, as a camera sees one: the object's boxes
    (the best one and those it overlaps by IoU 0.1 or more) were two, and are one."""
    pixels = cv2.imread(str(DATA / photo))
    height, width = pixels.shape[:2]
    frame = np.full((height * 5 // 2, height * 40 // 9, 3), 114, np.uint8)
    y, x = (frame.shape[0] - height) // 2, (frame.shape[1] - width) // 2
    frame[y : y + height, x : x + width] = pixels

    def on_the_object(detector: Detector) -> int:
        (result,) = detector.detect([DecodedImage(frame)], CAMERA)
        boxes = [d for d in result.detections if d.label == label and d.confidence >= SHOWN]
        return sum(_iou(d, boxes[0]) >= 0.1 for d in boxes)

    assert (on_the_object(demo_off), on_the_object(demo)) == (2, 1)


def _iou(a: Detection, b: Detection) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - w * h
    return w * h / union


def test_demo_scene_frames_show_one_box_per_object(demo: Detector, demo_off: Detector) -> None:
    """The demo camera's frames (a person, a cat, a cup moving): the person and the cup
    were doubled in nearly every frame; now each is one box in every frame."""
    scene = DemoScene.load()
    frames = [scene.render(index) for index in range(0, 300, 30)]
    doubled = Counter(label for f in frames for label, n in _counts(demo_off, f).items() if n > 1)
    assert doubled["person"] >= 8 and doubled["cup"] >= 8
    for frame in frames:
        counts = _counts(demo, frame)
        assert [counts[label] for label in ("person", "cat", "cup")] == [1, 1, 1], counts
