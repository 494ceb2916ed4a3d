"""Blue/green swaps under load: serving gap, failed requests, memory.

    .venv/bin/python benchmarks/swap.py [--swaps 50] [--json out.json]

The real service (a subprocess on loopback) with one 15 fps file camera; a client keeps
POSTing /v1/detect while the demo model and a second copy of it are activated in turn.
Reports the swap report's switch time and load/warm-up times (p50/p95), the longest pause in
the camera's processed frames around each swap (the serving gap), failed detect requests
(must be 0), and the service's RSS after the swaps against before (growth < 20 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from appliance.devtools.clip import write_clip
from appliance.devtools.models import second_model
from appliance.devtools.scene import compose_scene
from appliance.devtools.server import rss_mb, start_server

QUIET = {"APPLIANCE_LOG_LEVEL": "WARNING", "APPLIANCE_PROVIDERS": "cpu"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))], 2)


async def run(url: str, port: int, swaps: int, pid: int, work: Path) -> dict:
    jpeg = compose_scene().jpeg()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        with second_model(work / "second.onnx").open("rb") as handle:
            created = await http.post("/v1/models", files={"file": ("second.onnx", handle.read())})
        created.raise_for_status()
        stop = asyncio.Event()
        statuses: list[int] = []
        arrivals: list[float] = []

        async def load() -> None:
            while not stop.is_set():
                r = await http.post(
                    "/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}
                )
                statuses.append(r.status_code)

        async def frames() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}/v1/cameras/cam/ws?video=0") as ws:
                while not stop.is_set():
                    await ws.recv()
                    arrivals.append(time.monotonic())

        tasks = [asyncio.create_task(load()), asyncio.create_task(frames())]
        await asyncio.sleep(3)
        rss_before = rss_mb(pid)
        reports, gaps = [], []
        for index in range(swaps):
            model = "second" if index % 2 == 0 else "yolov3-tiny"
            started = time.monotonic()
            response = await http.post(f"/v1/models/{model}/activate")
            response.raise_for_status()
            reports.append(response.json())
            await asyncio.sleep(0.5)
            window = [t for t in arrivals if started - 0.5 <= t <= time.monotonic()]
            gaps.append(max(b - a for a, b in itertools.pairwise(window)) * 1000)
        await asyncio.sleep(2)
        rss_after = rss_mb(pid)
        stop.set()
        await asyncio.gather(*tasks)
    return {
        "swaps": swaps,
        "detect_requests": len(statuses),
        "failed_requests": sum(1 for s in statuses if s != 200),
        "switch_ms": {
            "p50": pct([r["switch_ms"] for r in reports], 0.5),
            "p95": pct([r["switch_ms"] for r in reports], 0.95),
        },
        "load_ms_p50": pct([r["load_ms"] for r in reports], 0.5),
        "warmup_ms_p50": pct([r["warmup_ms"] for r in reports], 0.5),
        "frame_gap_ms": {"p50": pct(gaps, 0.5), "p95": pct(gaps, 0.95), "max": round(max(gaps), 1)},
        "normal_frame_interval_ms": round(1000 / 15, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "median_interval_ms": round(
            statistics.median(b - a for a, b in itertools.pairwise(arrivals)) * 1000, 1
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--swaps", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        camera = {
            "id": "cam",
            "name": "Cam",
            "uri": f"file://{write_clip(work / 'clip.avi', frames=90)}",
        }
        with start_server(work / "serve", [camera], env=QUIET) as server:
            report = asyncio.run(run(server.url, server.port, args.swaps, server.process.pid, work))
    r = report
    print(f"{r['swaps']} swaps, {r['detect_requests']} detects, {r['failed_requests']} failed")
    print(f"switch p50/p95: {r['switch_ms']['p50']}/{r['switch_ms']['p95']} ms; "
          f"load p50 {r['load_ms_p50']} ms; warm-up p50 {r['warmup_ms_p50']} ms")  # fmt: skip
    print(f"frame gap around swaps p50/p95: {r['frame_gap_ms']['p50']}/{r['frame_gap_ms']['p95']}"
          f" ms (frames every {r['normal_frame_interval_ms']} ms)")  # fmt: skip
    print(f"RSS {r['rss_before_mb']} -> {r['rss_after_mb']} MB ({r['rss_growth_mb']} MB, < 20)")
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
