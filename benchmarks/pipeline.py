"""Camera pipeline speed, measured in one run so the ratios compare like with like.

    .venv/bin/python benchmarks/pipeline.py [--seconds 10] [--soak-minutes 5] [--json out.json]

1. raw engine throughput of the demo model;
2. pipeline throughput with 1 and 4 file cameras read as fast as inference takes them
   (processed frames/s), against the raw engine: targets >= 0.95 (1 camera), >= 0.9
   aggregate (4), per-camera min/max >= 0.8;
3. capture -> WebSocket-receive latency (p50/p95) of a paced 15 fps camera over real uvicorn
   with 1 and 10 viewers: target p95 <= one inference + 30 ms, 10 viewers within 10 % of 1;
4. JPEG-encoding CPU per processed frame with 1 and 10 viewers (must not grow);
5. the service's RSS after 1 and after `--soak-minutes` minutes of the demo camera with two
   viewers (growth < 10 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test scene and clip writer: real photos

from helpers import rss_mb, start_server, write_clip  # noqa: E402

from appliance.domain import DetectParams  # noqa: E402
from appliance.engines.onnxruntime import OnnxRuntimeConfig  # noqa: E402
from appliance.models.demo import demo_model_path  # noqa: E402
from appliance.models.detector import Detector  # noqa: E402
from appliance.pipeline.broadcast import Broadcaster  # noqa: E402
from appliance.pipeline.camera import CameraWorker  # noqa: E402
from appliance.pipeline.scheduler import CameraFeed, InferenceWorker  # noqa: E402
from appliance.sources import SourceOptions, open_source  # noqa: E402


def raw_engine_fps(detector: Detector, seconds: float) -> tuple[float, float]:
    tensor = np.random.default_rng(0).random((1, 3, *detector.input_hw), dtype=np.float32)
    for _ in range(5):
        detector.engine.infer(tensor)
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        detector.engine.infer(tensor)
        times.append((time.perf_counter() - t) * 1000)
    return round(len(times) / sum(times) * 1000, 1), round(statistics.median(times), 2)


def pipeline_fps(detector: Detector, clip: Path, cameras: int, seconds: float) -> list[float]:
    """Processed frames/s per camera, file cameras read as fast as inference takes them."""
    inference = InferenceWorker(detector)
    counts = [0] * cameras
    workers = []
    for index in range(cameras):
        options = SourceOptions(realtime=False)
        worker = CameraWorker(
            f"cam{index}",
            lambda options=options: open_source(f"file://{clip}", options),
            on_frame=inference.notify,
            lossless=True,
        )
        sink = Broadcaster(f"cam{index}")

        def count(processed, index=index, sink=sink) -> None:
            counts[index] += 1
            sink.publish(processed)

        inference.add(CameraFeed(worker.camera_id, worker.frames, DetectParams(), count))
        workers.append((worker, sink))
    for worker, _ in workers:
        worker.start()
    inference.start()
    time.sleep(2)  # warm: sources open, caches filled
    start_counts, start = list(counts), time.monotonic()
    time.sleep(seconds)
    rates = [
        (c - s) / (time.monotonic() - start) for c, s in zip(counts, start_counts, strict=True)
    ]
    inference.stop()
    for worker, sink in workers:
        worker.stop()
        sink.close()
        sink.join()
    return [round(r, 1) for r in rates]


QUIET = {"APPLIANCE_LOG_LEVEL": "WARNING", "APPLIANCE_PROVIDERS": "cpu"}


async def viewers_latency(url: str, viewers: int, seconds: float) -> list[float]:
    """Capture -> receipt of the JPEG, in ms, for every frame every viewer got."""
    latencies: list[float] = []

    async def view() -> None:
        async with websockets.connect(f"ws://{url}/v1/cameras/cam/ws", max_size=None) as ws:
            end = time.monotonic() + seconds
            captured = None
            while time.monotonic() < end:
                message = await ws.recv()
                if isinstance(message, str):
                    captured = json.loads(message)["captured_at"]
                elif captured is not None:
                    latencies.append((time.time() - captured) * 1000)

    await asyncio.gather(*(view() for _ in range(viewers)))
    return latencies


def camera_status(url: str) -> dict:
    return httpx.get(f"http://{url}/v1/cameras/cam", timeout=5).json()["status"]


def latency_rows(clip: Path, seconds: float, work: Path) -> list[dict]:
    camera = {"id": "cam", "name": "Cam", "uri": f"file://{clip}"}
    rows = []
    with start_server(work / "latency", [camera], env=QUIET) as server:
        url = f"127.0.0.1:{server.port}"
        asyncio.run(viewers_latency(url, 1, 3))  # warm up
        for viewers in (1, 10):
            before = camera_status(url)
            values = sorted(asyncio.run(viewers_latency(url, viewers, seconds)))
            after = camera_status(url)
            frames = after["frames"] - before["frames"]
            encodes = after["jpeg_encodes"] - before["jpeg_encodes"]
            encode_ms = after["stages"]["encode_ms"]["p50"]
            rows.append({
                "viewers": viewers,
                "p50_ms": round(values[len(values) // 2], 1),
                "p95_ms": round(values[int(0.95 * (len(values) - 1))], 1),
                "frames_received": len(values),
                "encodes_per_frame": round(encodes / max(frames, 1), 3),
                "encode_cpu_ms_per_frame": round(encode_ms * encodes / max(frames, 1), 2),
            })  # fmt: skip
    return rows


def soak(minutes: float, work: Path) -> dict:
    demo = {"id": "cam", "name": "Demo", "uri": "demo://"}
    with start_server(work / "soak", [demo], env=QUIET) as server:
        url = f"127.0.0.1:{server.port}"
        asyncio.run(viewers_latency(url, 2, 60))
        at_1 = rss_mb(server.process.pid)
        asyncio.run(viewers_latency(url, 2, max(0.0, minutes - 1) * 60))
        at_end = rss_mb(server.process.pid)
    return {
        "rss_mb_1min": round(at_1, 1),
        f"rss_mb_{minutes:g}min": round(at_end, 1),
        "growth_mb": round(at_end - at_1, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--soak-minutes", type=float, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.avi", frames=90)
        detector = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
        raw_fps, raw_ms = raw_engine_fps(detector, args.seconds)
        one = pipeline_fps(detector, clip, 1, args.seconds)
        four = pipeline_fps(detector, clip, 4, args.seconds)
        detector.close()
        latency = latency_rows(clip, args.seconds, work)
        memory = soak(args.soak_minutes, work) if args.soak_minutes > 0 else None

    report = {
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
        "raw_engine": {"fps": raw_fps, "ms": raw_ms},
        "pipeline_1_camera_fps": one[0],
        "pipeline_4_cameras_fps": four,
        "ratio_1_camera": round(one[0] / raw_fps, 3),
        "ratio_4_cameras": round(sum(four) / raw_fps, 3),
        "min_max_4_cameras": round(min(four) / max(four), 3),
        "latency": latency,
        "latency_target_p95_ms": round(raw_ms + 30, 1),
        "memory": memory,
    }
    print(f"raw engine: {raw_fps} fps ({raw_ms} ms)")
    print(f"pipeline, 1 camera: {one[0]} fps  (ratio {report['ratio_1_camera']}, target >= 0.95)")
    print(
        f"pipeline, 4 cameras: {four} = {sum(four):.1f} fps  (ratio {report['ratio_4_cameras']},"
        f" target >= 0.9; min/max {report['min_max_4_cameras']}, target >= 0.8)"
    )
    line = "{:>8} {:>8} {:>8} {:>10} {:>14} {:>18}"
    print(
        line.format("viewers", "p50 ms", "p95 ms", "received", "encodes/frame", "encode CPU ms/fr")
    )
    for row in latency:
        print(line.format(row["viewers"], row["p50_ms"], row["p95_ms"], row["frames_received"],
                          row["encodes_per_frame"], row["encode_cpu_ms_per_frame"]))  # fmt: skip
    print(f"latency target: p95 <= {report['latency_target_p95_ms']} ms; memory: {memory}")
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
