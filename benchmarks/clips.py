"""What event clips cost a camera: CPU, the caller's time in offer(), memory, writing a clip.

    .venv/bin/python benchmarks/clips.py [--rounds 3] [--seconds 8] [--json out.json]

A 1280x720 stream at 15 fps in real time (the trajectory scene: the demo photos walking over
a gradient, rendered before the run so rendering costs nothing; "noisy" adds sensor-like
gaussian noise, sigma 3, which real cameras have and which costs H.264 bits and time), fed
to a ClipRecorder (pre_s 3, post_s 2) the way the pipeline thread would. Set-ups, interleaved
round by round because this machine is shared:

- off: frames are paced but go nowhere (the baseline);
- on: every frame offered; two overlapping events per round (2-6 s and 4-8 s of 8);
- on + render: the same, each frame annotated first (the pipeline's draw_detections with the
  scene's three boxes) on the recorder thread, as for annotated clips;
- on, 50 events: fifty events at once (one encode, fifty muxers).

CPU: process CPU time (all threads: feeder, recorder, writer) per second of video, as % of one
core; "extra" is against the mean of the off rounds of the same scene. Target < 15 %.
offer(): the caller's wall time per call (p50/p99/max µs; the feeder sleeps between frames, so
these are cold-cache figures). Ring: the largest ring seen (bytes and seconds; target < 64 MB
per camera); RSS: the process's growth during a round (the encoder's own buffers, the queue,
the muxers), the largest of the rounds. Clip write: finishing one file (faststart rewrite,
fsync, rename) on the writer thread, mean ms.
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

import numpy as np
import psutil

from appliance.devtools.trajectories import TrajectoryScene
from appliance.domain import (
    Detection,
    DetectionResult,
    Frame,
    ModelRef,
    ProcessedFrame,
    StageTimings,
)
from appliance.events.clips import ClipRecorder
from appliance.pipeline.annotate import draw_detections

FPS = 15.0
SETUPS = (
    ("clean", "off"),
    ("clean", "on"),
    ("clean", "on + render"),
    ("clean", "on, 50 events"),
    ("noisy", "off"),
    ("noisy", "on"),
)


def frames(scene: TrajectoryScene, noisy: bool) -> list[ProcessedFrame]:
    """The scene's loop as processed frames with its true boxes as detections."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(scene.frames):
        pixels = scene.render(i)
        if noisy:
            noise = rng.normal(0, 3, pixels.shape)
            pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
        boxes = tuple(
            Detection(b.label, b.class_id, 0.8, b.x1, b.y1, b.x2, b.y2, track_id=b.object_id)
            for b in scene.truth(i)
        )
        result = DetectionResult(ModelRef("demo", "1"), 1280, 720, boxes, StageTimings())
        out.append(ProcessedFrame(Frame("cam", i, 0.0, 0.0, pixels), result, {}))
    return out


def annotate(processed: ProcessedFrame) -> np.ndarray:
    return draw_detections(processed.frame.pixels, processed.result.detections)


def run_round(loop: list[ProcessedFrame], mode: str, seconds: float, folder: Path) -> dict:
    """`seconds` of video in real time; CPU and offer() times, the recorder's stats."""
    recorder = None
    if mode != "off":
        render = annotate if mode == "on + render" else None
        recorder = ClipRecorder("cam", folder, pre_s=3.0, post_s=2.0, render=render)
    events = (
        [(f"e{n:02d}", 2.0, 6.0) for n in range(50)]
        if mode == "on, 50 events"
        else [("a", 2.0, 6.0), ("b", 4.0, 8.0)]
    )
    count = round(seconds * FPS)
    offer_us, ring_bytes, ring_s = [], 0, 0.0
    process = psutil.Process()
    rss0 = rss = process.memory_info().rss
    cpu0, wall0, mono0 = time.process_time(), time.time(), time.monotonic()
    for i in range(count):
        due = mono0 + i / FPS
        time.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        template = loop[i % len(loop)]
        frame = Frame("cam", i, wall0 + (now - mono0), now, template.frame.pixels)
        item = ProcessedFrame(frame, template.result, {})
        if recorder is None:
            continue
        start = time.perf_counter()
        recorder.offer(item)
        offer_us.append((time.perf_counter() - start) * 1e6)
        at = i / FPS
        for name, begin, end in events:
            if abs(at - begin) < 0.5 / FPS:
                recorder.begin(name, frame.captured_at)
            if abs(at - end) < 0.5 / FPS:
                recorder.finish(name, frame.captured_at)
        if i % 15 == 0:
            stats = recorder.stats()
            ring_bytes, ring_s = max(ring_bytes, stats.ring_bytes), max(ring_s, stats.ring_s)
            rss = max(rss, process.memory_info().rss)
    wall = time.monotonic() - mono0
    stats = None
    if recorder is not None:
        recorder.close()
        stats = recorder.stats()
    cpu = time.process_time() - cpu0
    return {
        "cpu_pct": 100 * cpu / (count / FPS),
        "wall_s": wall,
        "offer_us": offer_us,
        "ring_bytes": ring_bytes,
        "ring_s": ring_s,
        "rss_growth": rss - rss0,
        "stats": stats,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


def summarise(runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    rows = []
    for (scene, mode), rounds in runs.items():
        base = statistics.mean(r["cpu_pct"] for r in runs[(scene, "off")])
        cpu = [r["cpu_pct"] for r in rounds]
        row = {
            "scene": scene,
            "mode": mode,
            "rounds": len(rounds),
            "cpu_pct_median": round(statistics.median(cpu), 1),
            "cpu_pct_rounds": [round(c, 1) for c in cpu],
            "extra_pct_median": round(statistics.median(cpu) - base, 1),
        }
        if mode != "off":
            offers = [us for r in rounds for us in r["offer_us"]]
            stats = [r["stats"] for r in rounds]
            row |= {
                "offer_us_p50": round(pct(offers, 0.5), 1),
                "offer_us_p99": round(pct(offers, 0.99), 1),
                "offer_us_max": round(max(offers), 1),
                "ring_mb_max": round(max(r["ring_bytes"] for r in rounds) / 2**20, 2),
                "ring_s_max": max(r["ring_s"] for r in rounds),
                "rss_growth_mb_max": round(max(r["rss_growth"] for r in rounds) / 2**20, 1),
                "encode_ms_mean": round(statistics.mean(s.encode_ms_mean for s in stats), 2),
                "render_ms_mean": round(statistics.mean(s.render_ms_mean for s in stats), 2),
                "frames_dropped": sum(s.frames_dropped for s in stats),
                "clips_written": sum(s.clips_written for s in stats),
                "clips_failed": sum(s.clips_failed for s in stats),
                "write_ms_mean": round(statistics.mean(s.write_ms_mean for s in stats), 1),
            }
        rows.append(row)
    return rows


def clip_sizes(folder: Path) -> dict[str, float]:
    sizes = [p.stat().st_size for p in folder.glob("*.mp4")]
    return {"clips": len(sizes), "mean_kb": round(statistics.mean(sizes) / 1024, 1) if sizes else 0}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    scene = TrajectoryScene.load(0, FPS)
    loops = {"clean": frames(scene, False), "noisy": frames(scene, True)}
    runs: dict[tuple[str, str], list[dict]] = {setup: [] for setup in SETUPS}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, mode in SETUPS:
                folder = Path(tmp) / f"{name}-{mode}-{r}".replace(" ", "_").replace(",", "")
                result = run_round(loops[name], mode, args.seconds, folder)
                runs[(name, mode)].append(result)
                if r == 0 and mode != "off":
                    sizes[f"{name} / {mode}"] = clip_sizes(folder)
    rows = summarise(runs)

    line = "{:<6} {:<14} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>6} {:>9} {:>7} {:>6} {:>8}"
    head = (
        "scene", "mode", "cpu %", "extra %", "offer p50", "offer p99", "offer max",
        "ring MB", "ring s", "encode ms", "dropped", "clips", "write ms",
    )  # fmt: skip
    print(line.format(*head))
    for row in rows:
        values = [row["scene"], row["mode"], row["cpu_pct_median"], row["extra_pct_median"]]
        if row["mode"] == "off":
            values += ["-"] * 9
        else:
            keys = ("offer_us_p50", "offer_us_p99", "offer_us_max", "ring_mb_max", "ring_s_max")
            values += [row[k] for k in keys]
            keys = ("encode_ms_mean", "frames_dropped", "clips_written", "write_ms_mean")
            values += [row[k] for k in keys]
        print(line.format(*values))
    print("clip sizes (first round):", sizes)
    print(
        "RSS growth per round, MB:",
        {
            f"{r['scene']} / {r['mode']}": r.get("rss_growth_mb_max")
            for r in rows
            if r["mode"] != "off"
        },
    )
    on = [r for r in rows if r["mode"] != "off"]
    report = {
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}, load average {load_before:.1f}",
        "seconds_per_round": args.seconds,
        "rows": rows,
        "clip_sizes": sizes,
        "queue_worst_case_mb": round(8 * 1280 * 720 * 3 / 2**20, 1),
        "targets": {"extra_cpu_pct": "< 15", "ring_mb": "< 64"},
        "met": {
            "extra_cpu": all(r["extra_pct_median"] < 15 for r in on if r["mode"] == "on"),
            "ring": all(r["ring_mb_max"] < 64 for r in on),
        },
    }
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
