"""The engine cache (keys, atomic entries, look-ups) and the build keys the builder makes:
another TensorRT version, GPU, precision or batch range is another key, so a stale engine is
rebuilt rather than loaded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.platform import Gpu, Platform
from appliance.errors import BackendUnavailableError, InvalidInputError
from appliance.models.builds import BuildRequest, EngineBuilder
from appliance.models.demo import demo_model_path
from appliance.models.engine_cache import BuildOutput, CacheKey, EngineCache
from appliance.models.files import sha256_of

ORIN = Platform("10.3.0", Gpu("Orin", "8.7"), "1.20.0", ("CPUExecutionProvider",))
CPU_ONLY = Platform(None, None, "1.32.0", ("CPUExecutionProvider",))
KEY = CacheKey("ab" * 32, "tensorrt", "10.3.0", "Orin sm87", "fp16", "images 1..8x3x416x416")


def write_artifact(name: str = "model.engine", data: bytes = b"engine") -> object:
    def build(staging: Path) -> BuildOutput:
        (staging / name).write_bytes(data)
        return BuildOutput(name, {"names": "['person']"}, {"note": "test"})

    return build


@pytest.mark.parametrize(
    "change",
    [
        {"backend_version": "10.7.0"},
        {"device": "NVIDIA H100 80GB HBM3 sm90"},
        {"precision": "fp32"},
        {"shapes": "images 1..16x3x416x416"},
        {"onnx_sha256": "cd" * 32},
        {"options": "level=basic"},
    ],
)
def test_every_field_of_the_key_changes_its_digest(change: dict[str, str]) -> None:
    assert dataclasses.replace(KEY, **change).digest() != KEY.digest()
    assert CacheKey(**dataclasses.asdict(KEY)).digest() == KEY.digest()  # stable


def test_an_entry_is_stored_whole_with_its_metadata(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    entry = cache.store(KEY, "demo", write_artifact())  # type: ignore[arg-type]
    assert entry.folder == tmp_path / "engines" / KEY.digest()
    assert entry.path.read_bytes() == b"engine"
    meta = json.loads((entry.folder / "meta.json").read_text())
    assert meta["key"] == dataclasses.asdict(KEY) and meta["model"] == "demo"
    assert meta["sha256"] == sha256_of(entry.path) and meta["size_bytes"] == 6
    assert meta["model_metadata"] == {"names": "['person']"}
    assert cache.get(KEY) == entry
    assert cache.get(dataclasses.replace(KEY, backend_version="10.7.0")) is None
    assert [p.name for p in (tmp_path / "engines").iterdir()] == [KEY.digest()]


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")

    def broken(staging: Path) -> BuildOutput:
        (staging / "model.engine").write_bytes(b"half")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cache.store(KEY, "demo", broken)
    assert list((tmp_path / "engines").iterdir()) == [] and cache.get(KEY) is None


def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    entry = cache.store(KEY, "demo", write_artifact())  # type: ignore[arg-type]
    entry.path.write_bytes(b"trunc")  # not the size meta.json recorded
    assert cache.get(KEY) is None
    again = cache.store(KEY, "demo", write_artifact(data=b"engine2"))  # type: ignore[arg-type]
    assert cache.get(KEY) == again and again.path.read_bytes() == b"engine2"
    (again.folder / "meta.json").write_text("{not json")
    assert cache.get(KEY) is None and cache.entries() == []


def test_find_picks_the_newest_entry_for_this_version_and_device(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    fp32 = cache.store(dataclasses.replace(KEY, precision="fp32"), "demo", write_artifact())  # type: ignore[arg-type]
    fp16 = cache.store(KEY, "demo", write_artifact())  # type: ignore[arg-type]
    cache.store(dataclasses.replace(KEY, backend_version="10.7.0"), "demo", write_artifact())  # type: ignore[arg-type]
    found = cache.find(KEY.onnx_sha256, "tensorrt", "10.3.0", "Orin sm87")
    assert found == fp16 and fp32 in cache.entries()
    assert cache.find(KEY.onnx_sha256, "tensorrt", "10.3.0", "Thor sm110") is None


def test_sweep_removes_what_a_crash_left(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    (tmp_path / "engines" / ".staging-x1").mkdir(parents=True)
    (tmp_path / "engines" / ".staging-x1" / "model.engine").write_bytes(b"half")
    cache.sweep()
    assert list((tmp_path / "engines").iterdir()) == []


def builder(tmp_path: Path, platform: Platform) -> EngineBuilder:
    cache = EngineCache(tmp_path / "engines")
    return EngineBuilder(cache, OnnxRuntimeConfig(providers=("cpu",)), tmp_path, lambda: platform)


def request(kind: str, precision: str = "fp16", max_batch: int = 8) -> BuildRequest:
    path = demo_model_path()
    return BuildRequest("demo", "v", path, sha256_of(path), kind, precision, max_batch)


def test_tensorrt_keys_follow_version_gpu_precision_and_batch(tmp_path: Path) -> None:
    key = builder(tmp_path, ORIN).key(request("tensorrt"))
    assert (key.backend, key.backend_version, key.device) == ("tensorrt", "10.3.0", "Orin sm87")
    assert key.shapes == "images 1..8x3x416x416" and key.onnx_sha256 == sha256_of(demo_model_path())
    upgraded = dataclasses.replace(ORIN, tensorrt="10.7.0")
    other_gpu = dataclasses.replace(ORIN, gpu=Gpu("NVIDIA RTX 4090", "8.9"))
    others = [
        builder(tmp_path, upgraded).key(request("tensorrt")),
        builder(tmp_path, other_gpu).key(request("tensorrt")),
        builder(tmp_path, ORIN).key(request("tensorrt", precision="fp32")),
        builder(tmp_path, ORIN).key(request("tensorrt", max_batch=4)),
    ]
    assert len({key.digest(), *(k.digest() for k in others)}) == 5


def test_onnxruntime_keys_follow_its_version_and_the_cpu(tmp_path: Path) -> None:
    key = builder(tmp_path, CPU_ONLY).key(request("onnxruntime", precision="fp32"))
    assert key.backend == "onnxruntime" and key.backend_version == "1.32.0"
    assert key.device.startswith("cpu ") and key.options == "level=extended"
    assert key.shapes == "images batchx3x416x416"  # the graph's own dynamic batch
    newer = dataclasses.replace(CPU_ONLY, onnxruntime="1.33.0")
    assert builder(tmp_path, newer).key(request("onnxruntime", "fp32")).digest() != key.digest()


def test_builds_this_machine_cannot_run_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="TensorRT"):
        builder(tmp_path, CPU_ONLY).check("tensorrt", "fp16", 8)
    no_gpu = dataclasses.replace(ORIN, gpu=None)
    with pytest.raises(BackendUnavailableError, match="GPU"):
        builder(tmp_path, no_gpu).check("tensorrt", "fp16", 8)
    builder(tmp_path, ORIN).check("tensorrt", "fp16", 8)
    with pytest.raises(InvalidInputError, match="fp32"):
        builder(tmp_path, CPU_ONLY).check("onnxruntime", "fp16", 8)
    with pytest.raises(InvalidInputError, match="max_batch"):
        builder(tmp_path, ORIN).check("tensorrt", "fp16", 0)
    with pytest.raises(InvalidInputError, match="kind"):
        builder(tmp_path, ORIN).check("coreml", "fp16", 8)
    with pytest.raises(InvalidInputError, match="OpenVINO builds are int8"):
        builder(tmp_path, CPU_ONLY).check("openvino", "fp16", 8)
    with pytest.raises(InvalidInputError, match="int8 builds are OpenVINO's"):
        builder(tmp_path, CPU_ONLY).check("onnxruntime", "int8", 8)
