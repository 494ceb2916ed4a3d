"""CPU engines compared in one run, on the demo model: ONNX Runtime fp32, OpenVINO at its
default precision (fp32, or bf16 on CPUs that have it), and OpenVINO INT8 built the way the
appliance builds it (NNCF, calibrated on the demo scene, checked against the original).

    .venv/bin/python benchmarks/engines.py [--rounds 3] [--runs 30] [--seconds 4]
                                           [--json out.json]

1. per-inference median (ms) on a letterboxed 1280x720 frame of the real photos, each engine
   `--runs` times per round, engines interleaved and their order rotated every round:
   targets OpenVINO default >= 1.5x ONNX Runtime fp32, INT8 >= 2.0x and faster than default;
2. a live 1280x720 file camera with one viewer taking every annotated JPEG (the pipeline as
   the service runs it) on each engine, against the naive serial ONNX Runtime fp32 loop of
   benchmarks/pipeline.py on the same clip, windows interleaved: target with INT8 >= 1.8x;
3. the INT8 build: its time, and its agreement with the original (F1 of matched boxes);
4. start-up: loading each OpenVINO model with an empty compiled-model cache against a warm
   one (what a restart costs), interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from baselines import naive_loop, pipeline_with_viewer
from loguru import logger

from appliance.devtools.clip import write_clip
from appliance.devtools.scene import compose_scene
from appliance.engines.base import EngineConfigBase
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.openvino import OpenVinoConfig, openvino_version
from appliance.engines.registry import open_engine
from appliance.memory import tune_malloc
from appliance.models.builds import BuildRequest, EngineBuilder
from appliance.models.decode import letterbox, to_tensor
from appliance.models.demo import demo_model_path
from appliance.models.detector import Detector
from appliance.models.engine_cache import CachedArtifact, EngineCache
from appliance.models.files import sha256_of

ORT = OnnxRuntimeConfig(providers=("cpu",))
OPENVINO = OpenVinoConfig(device="CPU")


def build_int8(work: Path) -> tuple[CachedArtifact, float]:
    """The INT8 model as a job builds it (no camera: the demo scene's frames), and seconds."""
    onnx = demo_model_path()
    builder = EngineBuilder(EngineCache(work / "engines"), ORT, work / "timing", openvino=OPENVINO)
    request = BuildRequest("demo", "bench", onnx, sha256_of(onnx), "openvino", "int8", 8)
    started = time.perf_counter()
    entry = builder.build(request, builder.key(request), lambda f, m: None, lambda: False)
    return entry, time.perf_counter() - started


def engines(int8: CachedArtifact) -> dict[str, Detector]:
    int8_config = OPENVINO.model_copy(update={"precision": "int8"})
    detectors = {
        "onnxruntime_fp32": Detector.open("demo", ORT, demo_model_path()),
        "openvino_default": Detector.open("demo", OPENVINO, demo_model_path()),
        "openvino_int8": Detector.open("demo", int8_config, int8.path),
    }
    for detector in detectors.values():
        detector.warm_up(1)
    return detectors


def per_inference(detectors: dict[str, Detector], rounds: int, runs: int) -> dict[str, list]:
    """Each engine's ms per inference, `runs` at a time, order rotated every round."""
    tensor = to_tensor([letterbox(compose_scene().pixels, (416, 416), 127)[0]])
    names = list(detectors)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            engine = detectors[name].engine
            for _ in range(runs):
                start = time.perf_counter()
                engine.infer(tensor)
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def live_camera(
    detectors: dict[str, Detector], clip: Path, rounds: int, seconds: float
) -> list[dict[str, float]]:
    """Per round: the naive ORT fp32 loop, then the pipeline with one viewer on each engine."""
    rows = []
    for _ in range(rounds):
        row = {"naive_onnxruntime_fp32": naive_loop(detectors["onnxruntime_fp32"], clip, seconds)}
        for name, detector in detectors.items():
            row[name] = pipeline_with_viewer(detector, clip, seconds)
        row["naive_onnxruntime_fp32_after"] = naive_loop(
            detectors["onnxruntime_fp32"], clip, seconds
        )
        rows.append({key: round(value, 2) for key, value in row.items()})
    return rows


def start_up(int8: CachedArtifact, rounds: int) -> dict[str, dict[str, float]]:
    """Seconds to load each OpenVINO model with an empty compiled-model cache, and again
    with the cache the first load left (medians over `rounds`, cold and warm interleaved)."""
    models: dict[str, tuple[EngineConfigBase, Path]] = {
        "openvino_default": (OPENVINO, demo_model_path()),
        "openvino_int8": (OPENVINO.model_copy(update={"precision": "int8"}), int8.path),
    }
    found: dict[str, dict[str, list[float]]] = {n: {"cold": [], "warm": []} for n in models}
    for _ in range(rounds):
        for name, (config, path) in models.items():
            with tempfile.TemporaryDirectory() as cache:
                cached = config.model_copy(update={"cache_dir": Path(cache)})
                for state in ("cold", "warm"):
                    start = time.perf_counter()
                    open_engine(cached, path, metadata=int8.meta.model_metadata).close()
                    found[name][state].append(time.perf_counter() - start)
    return {
        name: {state: round(statistics.median(values), 3) for state, values in states.items()}
        for name, states in found.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30, help="inferences per engine and round")
    parser.add_argument("--seconds", type=float, default=4, help="length of each live window")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tune_malloc()  # as `appliance serve` does
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        int8, build_s = build_int8(work)
        clip = write_clip(work / "clip720.avi", frames=90, size=(1280, 720))
        detectors = engines(int8)
        precisions = {name: d.precision for name, d in detectors.items()}
        times = per_inference(detectors, args.rounds, args.runs)
        live = live_camera(detectors, clip, args.rounds, args.seconds)
        for detector in detectors.values():
            detector.close()
        loading = start_up(int8, args.rounds)

    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["onnxruntime_fp32"]
    naive = [(r["naive_onnxruntime_fp32"] + r["naive_onnxruntime_fp32_after"]) / 2 for r in live]
    live_ratio = {
        name: round(statistics.median(r[name] / n for r, n in zip(live, naive, strict=True)), 3)
        for name in detectors
    }
    report = {
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
        "openvino": openvino_version(),
        "precisions": precisions,
        "per_inference_ms_p50": {name: round(value, 2) for name, value in median.items()},
        "speedup_vs_onnxruntime_fp32": {
            name: round(base / value, 3) for name, value in median.items()
        },
        "targets": {
            "openvino_default": ">= 1.5x",
            "openvino_int8": ">= 2.0x and faster than default",
            "live_int8_vs_naive": ">= 1.8x",
        },
        "live_fps_vs_naive_loop": live_ratio,
        "live_rounds": live,
        "int8_build_s": round(build_s, 1),
        "int8_agreement": int8.meta.details["agreement"],
        "start_up_s": loading,
    }
    print(f"{'engine':<20} {'precision':<10} {'ms p50':>8} {'x ORT':>7} {'live/naive':>11}")
    for name, value in median.items():
        print(
            f"{name:<20} {precisions[name] or '?':<10} {value:>8.2f} "
            f"{base / value:>7.2f} {live_ratio[name]:>11.3f}"
        )
    print(f"INT8 build {build_s:.1f} s, agreement F1 {int8.meta.details['agreement']['f1']}")
    for name, states in loading.items():
        print(f"start-up {name}: {states['cold']:.3f} s cold cache, {states['warm']:.3f} s warm")
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
