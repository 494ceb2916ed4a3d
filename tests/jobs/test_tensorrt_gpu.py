"""Real TensorRT on a real GPU: a build of the demo model through the job machinery, the
engine it makes run through TensorRTEngine, and engine: auto choosing it. Skipped where
TensorRT or an NVIDIA GPU is missing (`pytest -m gpu` on a Jetson or GPU workstation)."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from helpers import compose_scene, inside, wait_ready

from appliance.app import create_app
from appliance.domain import DetectParams, ModelRef
from appliance.engines.onnxruntime import OnnxRuntimeConfig, OnnxRuntimeEngine
from appliance.engines.platform import probe_platform
from appliance.engines.tensorrt import TensorRTEngine
from appliance.errors import BuildCancelledError
from appliance.models.builds import BuildRequest, EngineBuilder
from appliance.models.demo import DEMO_MODEL_NAME, demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.engine_cache import CachedArtifact, EngineCache
from appliance.models.engine_select import EngineSelector
from appliance.models.files import sha256_of
from appliance.models.labels import resolve_labels
from appliance.settings import Settings

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorrt") is None or not probe_platform().can_run_tensorrt,
        reason="needs TensorRT and an NVIDIA GPU",
    ),
]
CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)


def request(precision: str = "fp16", max_batch: int = 4) -> BuildRequest:
    path = demo_model_path()
    return BuildRequest("demo", "v", path, sha256_of(path), "tensorrt", precision, max_batch)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trt")


@pytest.fixture(scope="module")
def built(folder: Path) -> tuple[CachedArtifact, list[float]]:
    builder = EngineBuilder(EngineCache(folder / "engines"), CPU, folder / "timing")
    seen: list[float] = []
    entry = builder.build(
        request(), builder.key(request()), lambda f, _m: seen.append(f), lambda: False
    )
    return entry, seen


@pytest.fixture
def engine(built: tuple[CachedArtifact, list[float]]) -> Iterator[TensorRTEngine]:
    entry, _ = built
    loaded = TensorRTEngine.load(entry.path, entry.meta.model_metadata)
    yield loaded
    loaded.close()


def test_the_build_reports_progress_and_persists_its_timing_cache(
    built: tuple[CachedArtifact, list[float]], folder: Path
) -> None:
    entry, seen = built
    assert entry.meta.details["max_batch"] == 4 and entry.key.precision == "fp16"
    assert entry.key.device == probe_platform().gpu.tag  # type: ignore[union-attr]
    assert seen == sorted(seen) and len(seen) > 3 and seen[-1] < 1.0
    assert list((folder / "timing").glob("timing-*.cache"))
    assert entry.meta.details["check"]["max_abs_diff"] >= 0.0


def test_the_engine_finds_the_scene_with_reused_buffers(engine: TensorRTEngine) -> None:
    assert engine.inputs[0].dynamic_batch and engine.max_batch == 4
    detector = Detector(ModelRef("demo", "trt"), engine, resolve_labels(engine.metadata, None))
    scene = compose_scene()
    for _ in range(3):
        (result,) = detector.detect([DecodedImage(scene.pixels)], DetectParams(conf=0.4))
        for label, rect in scene.where.items():
            assert any(d.label == label and inside(d, rect) for d in result.detections), label
    assert engine.buffer_sets == 1  # the same shape three times: one set of buffers


def test_batches_over_the_profile_match_onnx_runtime(engine: TensorRTEngine) -> None:
    reference = OnnxRuntimeEngine.load(demo_model_path(), CPU)
    try:
        tensor = np.random.default_rng(0).random((6, 3, 416, 416), dtype=np.float32)
        expected, got = reference.infer(tensor)[0], engine.infer(tensor)[0]
    finally:
        reference.close()
    assert got.shape == expected.shape  # split 4 + 2 over the 1..4 profile
    scale = float(np.abs(expected).max())
    assert float(np.abs(got - expected).max()) / scale < 0.05  # FP16


def test_a_cancelled_build_keeps_nothing(folder: Path) -> None:
    cache = EngineCache(folder / "cancelled")
    builder = EngineBuilder(cache, CPU, folder / "timing")
    other = request(precision="fp32", max_batch=2)
    with pytest.raises(BuildCancelledError):
        builder.build(other, builder.key(other), lambda f, m: None, lambda: True)
    assert cache.entries() == [] and not list((folder / "cancelled").glob(".staging-*"))


def test_auto_chooses_the_cached_engine_and_another_version_does_not(
    built: tuple[CachedArtifact, list[float]], folder: Path
) -> None:
    cache = EngineCache(folder / "engines")
    engine, selection = EngineSelector(CPU, "auto", cache).load(demo_model_path())
    engine.close()
    assert selection.backend == "tensorrt" and selection.artifact == built[0].meta.digest
    upgraded = dataclasses.replace(probe_platform(), tensorrt="99.0.0")
    engine, selection = EngineSelector(CPU, "auto", cache, lambda: upgraded).load(demo_model_path())
    engine.close()
    assert selection.backend == "onnxruntime"  # a stale engine is not loaded


@pytest.mark.anyio
async def test_a_tensorrt_job_then_activation_serves_tensorrt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    app = create_app(Settings(data_dir=data, models=["demo"], dashboard=False))
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gpu") as http:
            await wait_ready(http)
            body = {"model": DEMO_MODEL_NAME, "kind": "tensorrt", "max_batch": 2}
            job = (await http.post("/v1/jobs", json=body)).json()
            with anyio.fail_after(600):
                while job["state"] not in {"succeeded", "failed", "cancelled"}:
                    await anyio.sleep(0.5)
                    job = (await http.get(f"/v1/jobs/{job['id']}")).json()
            assert job["state"] == "succeeded", job["error"]
            activated = await http.post(f"/v1/models/{DEMO_MODEL_NAME}/activate", json={})
            assert activated.status_code == 200, activated.text
            model = (await http.get(f"/v1/models/{DEMO_MODEL_NAME}")).json()
            assert model["backend"] == "tensorrt" and "TensorRT" in model["engine_note"]
