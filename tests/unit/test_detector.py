"""Detector over real ONNX Runtime sessions: the demo model on real photos, and small
hand-built ONNX models for the YOLOv8 and end-to-end output families."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from helpers import DATA, Scene, inside
from onnx import TensorProto, helper, numpy_helper

from appliance.domain import DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig, choose_providers
from appliance.errors import ModelLoadError, UnsupportedModelError
from appliance.models.decode import OutputFamily
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector

CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)


@pytest.fixture(scope="module")
def demo() -> Detector:
    detector = Detector.load("demo", demo_model_path(), CPU)
    yield detector
    detector.close()


def _constant_model(path: Path, output: np.ndarray, metadata: dict[str, str], hw: int = 64) -> Path:
    """An ONNX model with an image input whose output is `output` tiled over the batch."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, hw, hw])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", *output.shape])
    value = numpy_helper.from_array(output[None].astype(np.float32), "value")
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "ones"], ["reps"], axis=0),
        helper.make_node("Tile", ["value", "reps"], ["output0"]),
    ]
    ones = numpy_helper.from_array(np.ones(output.ndim, np.int64), "ones")
    graph = helper.make_graph(nodes, "constant", [images], [out], [value, ones])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def test_demo_model_finds_person_cat_and_cup_where_they_are(demo: Detector, scene: Scene) -> None:
    """Each photo's object is found, with its box inside that photo's place in the scene."""
    (result,) = demo.detect([DecodedImage(scene.pixels)], DetectParams(conf=0.4))
    assert (result.width, result.height) == (1280, 720)
    for label, (x1, y1, x2, y2) in scene.where.items():
        boxes = [d for d in result.detections if d.label == label]
        assert boxes, f"no {label} found"
        best = max(boxes, key=lambda d: d.confidence)
        assert inside(best, (x1, y1, x2, y2)), best
        assert not any(inside(best, r) for other, r in scene.where.items() if other != label)
        # the box covers a good part of the photo, not a speck inside it
        assert (best.x2 - best.x1) * (best.y2 - best.y1) > 0.1 * (x2 - x1) * (y2 - y1)


@pytest.mark.parametrize(("photo", "label"), [("astronaut.png", "person"), ("coffee.png", "cup")])
def test_demo_model_on_single_photos(demo: Detector, photo: str, label: str) -> None:
    """Full-frame photos still give their main object as the top detection."""
    pixels = cv2.imread(str(DATA / photo))
    (result,) = demo.detect([DecodedImage(pixels)], DetectParams(conf=0.05))
    assert label in [d.label for d in result.detections[:3]]


def test_demo_model_batches_in_one_inference(demo: Detector, scene: Scene) -> None:
    """A dynamic-batch model takes several images at once, each with its own geometry."""
    assert demo.dynamic_batch
    small = cv2.resize(scene.pixels, (640, 360))
    results = demo.detect([DecodedImage(scene.pixels), DecodedImage(small)], DetectParams(conf=0.4))
    assert [(r.width, r.height) for r in results] == [(1280, 720), (640, 360)]
    labels = [{d.label for d in r.detections} for r in results]
    assert labels[0] >= {"person", "cat", "cup"} and labels[1] >= {"person", "cat"}
    for big, little in zip(results[0].detections[:2], results[1].detections[:2], strict=True):
        assert big.x1 == pytest.approx(little.x1 * 2, abs=25)


def test_demo_model_reports_stage_timings(demo: Detector, scene: Scene) -> None:
    (result,) = demo.detect([DecodedImage(scene.pixels, decode_ms=1.5)], DetectParams())
    t = result.timings
    assert t.decode_ms == 1.5 and t.infer_ms > 0 and t.preprocess_ms > 0 and t.postprocess_ms > 0


def test_yolov8_model_with_ultralytics_names(tmp_path: Path) -> None:
    """A [4+C, N] output with Ultralytics `names` metadata decodes with those labels."""
    output = np.zeros((6, 20), np.float32)  # 2 classes, 20 candidates
    output[:, 0] = [32, 32, 16, 8, 0.1, 0.9]  # class 1 at the centre
    path = _constant_model(tmp_path / "v8.onnx", output, {"names": "{0: 'fox', 1: 'owl'}"})
    detector = Detector.load("v8", path, CPU)
    assert detector.family is OutputFamily.YOLOV8 and detector.labels == ("fox", "owl")
    image = np.zeros((128, 256, 3), np.uint8)  # scale 0.25, pad_y 16
    (result,) = detector.detect([DecodedImage(image)], DetectParams())
    (d,) = result.detections
    assert (d.label, d.x1, d.y1, d.x2, d.y2) == ("owl", 96.0, 48.0, 160.0, 80.0)
    assert len(result.model.version) == 12


def test_end2end_model_with_sidecar_labels(tmp_path: Path) -> None:
    """A [N, 6] output uses labels from a `<model>.names` file beside it."""
    output = np.zeros((300, 6), np.float32)
    output[0] = [8, 8, 24, 24, 0.8, 2]
    path = _constant_model(tmp_path / "e2e.onnx", output, {})
    (tmp_path / "e2e.names").write_text("ant\nbee\nwasp\n")
    detector = Detector.load("e2e", path, CPU)
    assert detector.family is OutputFamily.END2END
    (result,) = detector.detect([DecodedImage(np.zeros((64, 64, 3), np.uint8))], DetectParams())
    assert [(d.label, d.confidence) for d in result.detections] == [("wasp", 0.8)]


def test_warm_up_runs_each_batch_size_the_worker_may_send_largest_first(tmp_path: Path) -> None:
    """So ONNX Runtime's arena reaches its size at start-up, not in steps while serving."""
    output = np.zeros((300, 6), np.float32)
    detector = Detector.load("e2e", _constant_model(tmp_path / "e2e.onnx", output, {}), CPU)
    ran: list[int] = []
    infer = detector.engine.infer

    def counted(batch: np.ndarray) -> list[np.ndarray]:
        ran.append(len(batch))
        return infer(batch)

    detector.engine.infer = counted  # type: ignore[method-assign]
    assert detector.dynamic_batch
    assert detector.warm_up(4) > 0
    assert ran == [4, 3, 2, 1]
    detector.dynamic_batch, ran[:] = False, []  # a fixed batch of one: one run
    detector.warm_up(4)
    assert ran == [1]


def test_model_without_labels_falls_back_to_coco(tmp_path: Path) -> None:
    output = np.zeros((84, 100), np.float32)
    detector = Detector.load("m", _constant_model(tmp_path / "m.onnx", output, {}), CPU)
    assert len(detector.labels) == 80 and detector.labels[0] == "person"


def test_garbage_file_is_a_load_error(tmp_path: Path) -> None:
    """Bytes that are not ONNX give ModelLoadError with the file named."""
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x01garbage" * 100)
    with pytest.raises(ModelLoadError, match=r"broken\.onnx"):
        Detector.load("broken", path, CPU)


def test_output_matching_no_family_is_refused(tmp_path: Path) -> None:
    path = _constant_model(tmp_path / "odd.onnx", np.zeros((7, 7), np.float32), {})
    with pytest.raises(UnsupportedModelError):
        Detector.load("odd", path, CPU)


def test_provider_choice_follows_preference_and_availability() -> None:
    """Only available providers are used, in the order asked; unknown names are refused."""
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["tensorrt", "cuda", "cpu"], available) == available
    assert choose_providers(["cpu"], available) == ["CPUExecutionProvider"]
    with pytest.raises(ModelLoadError, match="none of the providers"):
        choose_providers(["tensorrt"], ["CPUExecutionProvider"])
    with pytest.raises(ModelLoadError, match="unknown"):
        choose_providers(["openvino"], available)
