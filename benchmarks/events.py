"""What recording events costs a real service, measured in one run.

    .venv/bin/python benchmarks/events.py [--rounds 3] [--seconds 20] [--json out.json]

`appliance serve` with one 1280x720 15 fps file camera (people walking across an empty
scene, 4 s of every 12: each walk is one event with a snapshot and a clip), run alternately
with events (and clips) on and off. Per set-up: the service's CPU (% of one core, from its
process's CPU time over the window), frames the camera processed per second, and its
resident memory. The extra CPU of events is the median of the rounds' differences.
ONNX Runtime runs with one intra-op thread here (`--intra-op-threads`): its thread pool
spin-waits between runs and fills whatever CPU is idle, which would hide the cost of
anything else in the process.
Target: < 15 % of one core extra per camera. The recorder's own figures (ring memory,
offer() cost) are in benchmarks/clips.py, the store's write rate under a burst of 50
objects in benchmarks/event_store.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from appliance.devtools.server import start_server
from appliance.devtools.visits import write_visit_clip

SETUPS = ("off", "on", "on-clean")  # on-clean: clips without boxes drawn


def camera(clip: Path, events: bool, annotated: bool = True) -> dict:
    return {
        "id": "door",
        "name": "Door",
        "uri": f"file://{clip}",
        "events": {"enabled": events, "annotated_clips": annotated},
    }


def measure(
    workdir: Path, clip: Path, setup: str, seconds: float, threads: int
) -> dict[str, float]:
    workdir.mkdir(parents=True)
    env = {"APPLIANCE_INTRA_OP_THREADS": str(threads)} if threads else {}
    cameras = [camera(clip, setup != "off", annotated=setup != "on-clean")]
    with start_server(workdir, cameras, env=env) as server:
        process = psutil.Process(server.process.pid)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            time.sleep(3.0)  # past the start: the engine is warm, the clip ring is full
            frames0 = http.get("/v1/cameras/door").json()["status"]["frames"]
            cpu0, wall0 = process.cpu_times(), time.monotonic()
            time.sleep(seconds)
            cpu1, wall1 = process.cpu_times(), time.monotonic()
            status = http.get("/v1/cameras/door").json()["status"]
            stored = len(http.get("/v1/events", params={"limit": 500}).json()["events"])
        busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return {
            "cpu_percent": round(100 * busy / (wall1 - wall0), 1),
            "fps_out": round(status["fps_out"], 2),
            "frames_per_s": round((status["frames"] - frames0) / (wall1 - wall0), 2),
            "rss_mb": round(process.memory_info().rss / 2**20, 1),
            "events_stored": stored,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--intra-op-threads", type=int, default=1, help="0: ONNX Runtime's own")
    args = parser.parse_args()

    results: dict[str, list[dict[str, float]]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = write_visit_clip(root / "visit.avi").path
        for round_ in range(args.rounds):
            order = SETUPS if round_ % 2 == 0 else tuple(reversed(SETUPS))
            for name in order:
                where = root / f"{name}-{round_}"
                results[name].append(
                    measure(where, clip, name, args.seconds, args.intra_op_threads)
                )
                print(f"round {round_ + 1} {name}: {results[name][-1]}", flush=True)

    def extra(setup: str) -> list[float]:
        pairs = zip(results[setup], results["off"], strict=True)
        return [round(on["cpu_percent"] - off["cpu_percent"], 1) for on, off in pairs]

    summary = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "intra_op_threads": args.intra_op_threads,
        "setups": {
            name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for name, runs in results.items()
        },
        "extra_cpu_percent_of_one_core": {s: statistics.median(extra(s)) for s in SETUPS[1:]},
        "extra_cpu_by_round": {s: extra(s) for s in SETUPS[1:]},
        "target_extra_cpu_percent": 15.0,
    }
    print()
    print(f"{'set-up':<8}{'CPU %':>8}{'frames/s':>10}{'RSS MB':>9}{'events':>8}")
    for name, row in summary["setups"].items():
        print(
            f"{name:<8}{row['cpu_percent']:>8.1f}{row['frames_per_s']:>10.2f}"
            f"{row['rss_mb']:>9.1f}{row['events_stored']:>8.0f}"
        )
    for setup, value in summary["extra_cpu_percent_of_one_core"].items():
        print(f"extra CPU, events {setup}: {value:.1f} % of one core")
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
