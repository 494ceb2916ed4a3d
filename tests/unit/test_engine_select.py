"""`engine: auto` on machines of every kind (the platform is a value the selector is given),
and model specs that name a Triton server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.platform import Gpu, Platform, probe_platform
from appliance.engines.remote import RemoteModel
from appliance.errors import BackendUnavailableError, ModelLoadError
from appliance.models.builds import BuildRequest, EngineBuilder, tensorrt_identity
from appliance.models.demo import demo_model_path
from appliance.models.detector import Detector, file_version
from appliance.models.engine_cache import BuildOutput, CacheKey, EngineCache
from appliance.models.engine_select import EngineSelector
from appliance.models.files import sha256_of
from appliance.services.detection import ModelSpec

CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)
HERE = probe_platform()
# a machine with ONNX Runtime only (OpenVINO is auto's CPU choice where it is installed)
NO_TENSORRT = dataclasses.replace(HERE, tensorrt=None, gpu=None, openvino=None)
ORIN = dataclasses.replace(
    HERE, tensorrt="10.3.0", gpu=Gpu("Orin", "8.7"), openvino=None, machine="aarch64"
)


def selector(tmp_path: Path, platform: Platform, choice: str = "auto") -> EngineSelector:
    cache = EngineCache(tmp_path / "engines")
    return EngineSelector(CPU, choice, cache, lambda: platform)  # type: ignore[arg-type]


def test_without_openvino_onnx_runtime_serves_on_the_cpu(tmp_path: Path) -> None:
    engine, selection = selector(tmp_path, NO_TENSORRT).load(demo_model_path())
    try:
        assert (engine.backend, engine.device, selection.backend) == (
            "onnxruntime",
            "CPU",
            "onnxruntime",
        )
        assert selection.artifact is None and "ONNX Runtime on CPU" in selection.note
        assert selection.precision == "fp32"
    finally:
        engine.close()


def test_forcing_tensorrt_without_it_says_why(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no TensorRT installed"):
        selector(tmp_path, NO_TENSORRT, "tensorrt").load(demo_model_path())
    no_gpu = dataclasses.replace(ORIN, gpu=None)
    with pytest.raises(BackendUnavailableError, match="no GPU"):
        selector(tmp_path, no_gpu, "tensorrt").load(demo_model_path())


def test_tensorrt_without_a_built_engine_serves_onnx_runtime_meanwhile(tmp_path: Path) -> None:
    engine, selection = selector(tmp_path, ORIN).load(demo_model_path())
    engine.close()
    assert selection.backend == "onnxruntime" and "no TensorRT engine built" in selection.note
    with pytest.raises(ModelLoadError, match="no TensorRT engine built"):
        selector(tmp_path, ORIN, "tensorrt").load(demo_model_path())


def test_a_cached_engine_is_used_only_for_its_version_and_gpu(tmp_path: Path) -> None:
    """An engine entry for this model, TensorRT version and GPU is what auto loads; here the
    load itself fails (no TensorRT to deserialize it), so auto says so and falls back."""
    cache = EngineCache(tmp_path / "engines")
    version, device = tensorrt_identity(ORIN)  # type: ignore[misc]
    key = CacheKey(sha256_of(demo_model_path()), "tensorrt", version, device, "fp16", "x")

    def plan(staging: Path) -> BuildOutput:
        (staging / "model.engine").write_bytes(b"a serialized engine")
        return BuildOutput("model.engine", {})

    cache.store(key, "demo", plan)
    engine, selection = selector(tmp_path, ORIN).load(demo_model_path())
    engine.close()
    assert "cached TensorRT engine did not load" in selection.note
    upgraded = dataclasses.replace(ORIN, tensorrt="10.7.0")  # JetPack upgrade: not that one
    engine, selection = selector(tmp_path, upgraded).load(demo_model_path())
    engine.close()
    assert "no TensorRT engine built" in selection.note


def test_an_optimised_graph_in_the_cache_is_what_onnx_runtime_loads(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    builder = EngineBuilder(cache, CPU, tmp_path, lambda: NO_TENSORRT)
    path = demo_model_path()
    request = BuildRequest("demo", "v", path, sha256_of(path), "onnxruntime", "fp32", 8)
    key = builder.key(request)
    built = builder.build(request, key, lambda fraction, message: None, lambda: False)
    engine, selection = selector(tmp_path, NO_TENSORRT).load(path)
    engine.close()
    assert selection.artifact == built.meta.digest and "optimised graph" in selection.note
    newer = dataclasses.replace(NO_TENSORRT, onnxruntime="99.0")  # another ORT: not used
    engine, selection = selector(tmp_path, newer).load(path)
    engine.close()
    assert selection.artifact is None


@pytest.mark.parametrize(
    ("text", "name", "remote"),
    [
        ("triton://gpu-box:8000/yolo", "yolo", "triton://gpu-box:8000/yolo"),
        ("big=triton://10.0.0.2/yolo/3", "big", "triton://10.0.0.2/yolo/3"),
    ],
)
def test_model_specs_can_name_a_triton_server(text: str, name: str, remote: str) -> None:
    assert ModelSpec.parse(text) == ModelSpec(name, None, RemoteModel.parse(remote))


def test_a_malformed_triton_spec_fails_when_parsed() -> None:
    with pytest.raises(ModelLoadError, match="triton://"):
        ModelSpec.parse("x=triton://host:port/")


def test_a_detector_through_the_selector_keeps_the_onnx_files_version(tmp_path: Path) -> None:
    """Its version is the ONNX file's (what the repository lists), read once per load."""
    path = demo_model_path()
    detector = Detector.load("demo", path, CPU, selector(tmp_path, NO_TENSORRT))
    try:
        assert detector.ref.version == file_version(path) == sha256_of(path)[:12]
        assert detector.note == (
            "ONNX Runtime on CPU (no TensorRT installed; no OpenVINO installed)"
        )
    finally:
        detector.close()
