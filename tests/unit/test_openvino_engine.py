"""The OpenVINO engine on the demo model: the same detections as ONNX Runtime fp32 on the real
photos, labels carried over, compiled models cached on disk, broken files refused; and how
`engine` chooses it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import DATA, PHOTOS, compose_scene

from appliance.analytics.tracker import box_iou
from appliance.domain import Detection, DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.openvino import OpenVinoConfig, OpenVinoEngine
from appliance.engines.platform import probe_platform
from appliance.errors import BackendUnavailableError, ModelLoadError
from appliance.models.agreement import agreement
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.engine_cache import EngineCache
from appliance.models.engine_select import EngineSelector

pytest.importorskip("openvino")  # a dependency on x86_64; an extra elsewhere

CPU = OnnxRuntimeConfig(providers=("cpu",))
HERE = probe_platform()
OPENVINO = OpenVinoConfig(device="CPU")


def images() -> list[np.ndarray]:
    photos = [cv2.imread(str(DATA / name)) for name in PHOTOS.values()]
    return [*photos, compose_scene().pixels]


def detections(detector: Detector, params: DetectParams) -> list[list[Detection]]:
    return [detector.detect([DecodedImage(image)], [params])[0].detections for image in images()]


@pytest.fixture(scope="module")
def detectors() -> tuple[Detector, Detector]:
    onnxruntime = Detector.open("demo", CPU, demo_model_path())
    openvino = Detector.open("demo", OPENVINO, demo_model_path())
    yield onnxruntime, openvino
    onnxruntime.close()
    openvino.close()


NEAR_THRESHOLD = 0.02  # bf16 moves a score by ~0.01: a box this near `conf` may flip


def matched(wanted: list[Detection], pool: list[Detection]) -> list[tuple[Detection, Detection]]:
    """Each box of `wanted` with its partner in `pool` (same label, IoU > 0.9, score within
    0.02), one to one; a box without one fails the test."""
    pairs, free = [], list(pool)
    for a in wanted:
        partner = next(
            (
                b
                for b in free
                if b.label == a.label
                and abs(a.confidence - b.confidence) < 0.02
                and box_iou(
                    np.array([[a.x1, a.y1, a.x2, a.y2]]), np.array([[b.x1, b.y1, b.x2, b.y2]])
                )[0, 0]
                > 0.9
            ),
            None,
        )
        assert partner is not None, (a, pool)
        free.remove(partner)
        pairs.append((a, partner))
    return pairs


@pytest.mark.parametrize("conf", [0.25, 0.1])
def test_openvino_finds_what_onnx_runtime_finds(
    detectors: tuple[Detector, Detector], conf: float
) -> None:
    """At OpenVINO's default precision (fp32, or bf16 on a CPU with AMX or avx512_bf16):
    every box either engine finds, the other finds too (same label, IoU > 0.9, score within
    0.02), allowing only that a box scored within 0.02 of `conf` falls on the other side."""
    onnxruntime, openvino = detectors
    expected = detections(onnxruntime, DetectParams(conf=conf))
    got = detections(openvino, DetectParams(conf=conf))
    lower = DetectParams(conf=conf - NEAR_THRESHOLD)
    expected_near, got_near = detections(onnxruntime, lower), detections(openvino, lower)
    assert sum(map(len, expected)) >= 4  # the cup, the cat, the person… something to compare
    for image in range(len(expected)):
        matched(expected[image], got_near[image])
        matched(got[image], expected_near[image])
    if openvino.engine.precision == "fp32":  # the same arithmetic: nothing may flip
        assert agreement(expected, got).f1 == 1.0


def test_the_onnx_models_labels_and_metadata_come_along(
    detectors: tuple[Detector, Detector],
) -> None:
    onnxruntime, openvino = detectors
    assert openvino.labels == onnxruntime.labels and len(openvino.labels) == 80
    assert openvino.fill == onnxruntime.fill == 127
    assert openvino.engine.inputs[0].name == "images"
    assert openvino.engine.outputs[0].name == onnxruntime.engine.outputs[0].name
    assert openvino.engine.inputs[0].dynamic_batch
    assert openvino.precision in {"fp32", "bf16"}  # what this CPU computes in


def test_a_batch_runs_across_streams_and_answers_as_single_images(
    detectors: tuple[Detector, Detector],
) -> None:
    """Batches go to the copy compiled for throughput, one request per image; the answers
    are those of the latency-compiled model image by image, in the batch's order."""
    _, openvino = detectors
    scene = compose_scene().pixels
    images = [DecodedImage(scene), DecodedImage(np.ascontiguousarray(scene[:, ::-1]))]
    batch = openvino.detect([*images, images[0]], [DetectParams()] * 3)
    alone = [openvino.detect([image], [DetectParams()])[0] for image in images]
    assert batch[0].detections == alone[0].detections == batch[2].detections
    assert batch[1].detections == alone[1].detections != alone[0].detections


def test_compiled_models_are_cached_on_disk(tmp_path: Path) -> None:
    cache = tmp_path / "openvino"
    config = OPENVINO.model_copy(update={"cache_dir": cache})
    OpenVinoEngine.load(demo_model_path(), config).close()
    blobs = list(cache.glob("*.blob"))
    assert blobs and all(blob.stat().st_size > 1_000_000 for blob in blobs)
    again = OpenVinoEngine.load(demo_model_path(), config)  # from the blob this time
    try:
        assert list(cache.glob("*.blob")) == blobs
        assert again.infer(np.zeros((1, 3, 416, 416), np.float32))[0].shape == (1, 2535, 85)
    finally:
        again.close()


def test_a_broken_model_is_a_load_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(demo_model_path().read_bytes()[:50_000])
    with pytest.raises(ModelLoadError, match=r"OpenVINO cannot load broken\.onnx"):
        OpenVinoEngine.load(broken, OPENVINO)


def test_engine_choices(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    none = dataclasses.replace(HERE, tensorrt=None, gpu=None, openvino=None)
    with pytest.raises(BackendUnavailableError, match="OpenVINO is not installed"):
        EngineSelector(CPU, "openvino", cache, lambda: none).load(demo_model_path())
    arm = dataclasses.replace(HERE, tensorrt=None, gpu=None, machine="aarch64")
    engine, selection = EngineSelector(CPU, "auto", cache, lambda: arm).load(demo_model_path())
    engine.close()
    assert selection.backend == "onnxruntime" and "x86_64 only" in selection.note
    engine, selection = EngineSelector(CPU, "openvino", cache, lambda: arm).load(
        demo_model_path()
    )  # forced: anywhere it is installed
    engine.close()
    assert selection.backend == "openvino" and selection.precision in {"fp32", "bf16"}
