"""The engine registry: its types, config models chosen by `type`, lazy backends, and the
demo model opened through `open_engine`, the one way every caller plugs an engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Scene, inside
from pydantic import BaseModel, ValidationError

from appliance.domain import DetectParams
from appliance.engines.base import EngineConfigBase
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.registry import (
    ENGINE_TYPES,
    EngineConfig,
    engine_type,
    file_engine_config,
    open_engine,
    parse_engine_config,
)
from appliance.engines.remote import RemoteConfig
from appliance.engines.tensorrt import TensorRTConfig
from appliance.errors import ModelLoadError, UnsupportedModelError
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector, file_version

CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)


def test_the_registry_lists_each_type_with_its_config_and_engine() -> None:
    assert [entry.name for entry in ENGINE_TYPES] == [
        "onnxruntime",
        "openvino",
        "tensorrt",
        "remote",
    ]
    for entry in ENGINE_TYPES:
        assert entry.config_model().type == entry.name  # type: ignore[attr-defined]
        assert callable(entry.engine_class.open)
    assert engine_type("tensorrt").suffixes == (".engine", ".plan")
    assert engine_type("openvino").suffixes == (".xml",)  # an OpenVINO IR (an INT8 build)
    with pytest.raises(
        UnsupportedModelError, match="known: onnxruntime, openvino, tensorrt, remote"
    ):
        engine_type("coreml")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "onnxruntime", "providers": ["cpu"]}, OnnxRuntimeConfig(providers=("cpu",))),
        ({"type": "tensorrt", "max_plans": 2}, TensorRTConfig(max_plans=2)),
        ({"type": "remote", "timeout_s": 5}, RemoteConfig(timeout_s=5.0)),
    ],
)
def test_a_dict_becomes_the_config_model_its_type_names(
    data: dict[str, object], expected: EngineConfigBase
) -> None:
    parsed = parse_engine_config(data)
    assert type(parsed) is type(expected) and parsed == expected


def test_an_unknown_type_is_a_validation_error_naming_the_known_ones() -> None:
    with pytest.raises(
        ValidationError, match="'onnxruntime', 'openvino', 'tensorrt', 'remote'"
    ) as caught:
        parse_engine_config({"type": "coreml", "device": "CPU"})
    assert caught.value.errors()[0]["type"] == "union_tag_invalid"


def test_engine_configs_are_frozen_and_refuse_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_engine_config({"type": "remote", "timeout": 5})
    with pytest.raises(ValidationError, match="frozen"):
        CPU.intra_op_threads = 4  # type: ignore[misc]
    assert CPU.model_copy(update={"providers": ("cuda", "cpu")}).providers == ("cuda", "cpu")


def test_engine_config_is_a_field_type_for_persisted_configuration() -> None:
    """How a saved model entry carries its engine: the union, picked by `type`."""

    class ModelEntry(BaseModel):
        name: str
        engine: EngineConfig

    entry = ModelEntry.model_validate({"name": "yolo", "engine": {"type": "tensorrt"}})
    assert entry.engine == TensorRTConfig()
    schema = ModelEntry.model_json_schema()
    assert set(schema["properties"]["engine"]["discriminator"]["mapping"]) == {
        "onnxruntime",
        "openvino",
        "tensorrt",
        "remote",
    }


def test_importing_the_registry_imports_no_backend() -> None:
    code = (
        "import sys, appliance.engines.registry as r\n"
        "assert [e.config_model for e in r.ENGINE_TYPES]\n"
        "heavy = {'onnxruntime', 'openvino', 'tensorrt', 'pycuda', 'tritonclient'}\n"
        "heavy &= set(sys.modules)\n"
        "assert not heavy, f'imported eagerly: {heavy}'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_model_file_picks_its_engine_type_by_suffix(tmp_path: Path) -> None:
    assert file_engine_config(demo_model_path(), TensorRTConfig(), CPU) is CPU
    assert file_engine_config(demo_model_path()) == OnnxRuntimeConfig()
    plan = tmp_path / "yolo.plan"
    plan.write_bytes(b"not really an engine")
    assert file_engine_config(plan, CPU) == TensorRTConfig()
    with pytest.raises(ModelLoadError, match="does not exist"):
        file_engine_config(tmp_path / "gone.onnx", CPU)
    text = tmp_path / "yolo.txt"
    text.write_text("?")
    with pytest.raises(UnsupportedModelError, match=r"accepted: \.onnx, \.xml, \.engine, \.plan"):
        file_engine_config(text, CPU)


def test_open_engine_routes_to_each_backend_and_refuses_what_does_not_fit(tmp_path: Path) -> None:
    plan = tmp_path / "yolo.plan"
    plan.write_bytes(b"not really an engine")
    with pytest.raises(ModelLoadError, match="does not exist"):
        open_engine(TensorRTConfig(), tmp_path / "gone.plan")
    with pytest.raises(ModelLoadError, match="a remote engine opens a triton:// URI"):
        open_engine(RemoteConfig(), plan)
    with pytest.raises(ModelLoadError, match="is not a triton://"):
        open_engine(RemoteConfig(), "http://gpu-box/yolo")

    class Unregistered(EngineConfigBase):
        pass

    with pytest.raises(UnsupportedModelError, match="no engine type 'Unregistered'"):
        open_engine(Unregistered(), plan)


def test_the_demo_model_opens_through_the_registry_and_detects(scene: Scene) -> None:
    engine = open_engine(CPU, demo_model_path())
    try:
        assert (engine.backend, engine.device) == ("onnxruntime", "CPU")
        assert engine.inputs[0].shape[1:] == (3, 416, 416)
    finally:
        engine.close()
    detector = Detector.open("demo", parse_engine_config(CPU.model_dump()), demo_model_path())
    try:
        (result,) = detector.detect([DecodedImage(scene.pixels)], DetectParams(conf=0.4))
    finally:
        detector.close()
    assert detector.ref.version == file_version(demo_model_path())
    for label, rect in scene.where.items():
        boxes = [d for d in result.detections if d.label == label]
        assert boxes, f"no {label} found"
        assert inside(max(boxes, key=lambda d: d.confidence), rect)


@pytest.mark.parametrize("spinning", [False, True])
def test_onnx_runtime_pool_threads_spin_only_when_asked(spinning: bool) -> None:
    """Off by default: on a small CPU, idle pool threads busy-waiting took the cores that
    capture, encoding and a swap's second engine need (benchmarks/swap.py, pipeline.py)."""
    config = CPU if not spinning else CPU.model_copy(update={"spinning": True})
    engine = open_engine(config, demo_model_path())
    try:
        options = engine._session.get_session_options()  # type: ignore[attr-defined]
        for pool in ("intra_op", "inter_op"):
            entry = options.get_session_config_entry(f"session.{pool}.allow_spinning")
            assert entry == ("1" if spinning else "0")
    finally:
        engine.close()
    assert OnnxRuntimeConfig().spinning is False
