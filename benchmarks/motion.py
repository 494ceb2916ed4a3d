"""What the motion gate saves and what it keeps, on a real service, measured in one run.

    .venv/bin/python benchmarks/motion.py [--rounds 2] [--still-s 30] [--moving-s 30]

A 1280x720 15 fps file camera made from the test photos: an empty, still scene for
`--still-s`, then two people and a cat walking for `--moving-s`, on a loop
(appliance.devtools.phases). `appliance serve` runs it with the gate on (the default
config) and off, alternately, each for two loops, with a detections-only WebSocket viewer
recording every frame message. Reported:

- CPU of the service (% of one core, from its process's CPU time) in still and in moving
  phases, and the frames inferred per second in each (the `motion.frames_inferred` counter);
- the latency from the first moving frame's capture to the first message with detections
  (gated), against the same latency ungated plus one frame interval;
- IDF1 of the gated run's tracks against the ungated run's on the moving phases' frames
  (py-motmetrics, IoU >= 0.5, frames both runs inferred);
- one camera on a still clip with nobody watching, gated and not: the service's CPU;
- 8 cameras: 7 on a still clip and 1 on the phase clip, gated: the service's CPU while all
  are still, and the moving camera's inferred frames per second while it moves;
- the motion detector alone: ms per 720p frame (median, p95);
- the demo camera as a first run starts it (gate on, 5 inferences a second at most) and as
  it was before (every frame inferred): CPU over two of its 30 s cycles.

Targets (issue #19): still < 15 % of a core per camera at the idle rate; first motion to
first detection <= one inference + one frame interval; IDF1 >= 0.95; 8 still cameras with
CPU to spare, the moving one at its full rate; the detector < 2 ms per 720p frame.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from appliance.analytics.motion import MotionDetector, MotionSettings
from appliance.devtools.mot import score
from appliance.devtools.phases import PhaseClip, write_phase_clip
from appliance.devtools.server import start_server
from appliance.devtools.trajectories import TrajectoryScene, TruthBox
from appliance.domain import Detection
from appliance.services.cameras import DEMO_CAMERA

FPS = 15.0


@dataclass
class Message:
    received: float  # wall clock
    frame_id: int
    captured_at: float
    carried: bool
    detections: list[dict]
    timings: dict[str, float]


@dataclass
class Recorder:
    """A detections-only viewer of one camera, keeping every frame message."""

    url: str
    messages: list[Message] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        with connect(self.url, max_size=None) as ws:
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=1.0)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return  # the service stops
                body = json.loads(raw)
                self.messages.append(
                    Message(
                        time.time(),
                        body["frame_id"],
                        body["captured_at"],
                        body.get("carried", False),
                        body["detections"],
                        body["timings"],
                    )
                )


def camera(camera_id: str, clip: Path, gate: bool) -> dict:
    return {
        "id": camera_id,
        "name": camera_id,
        "uri": f"file://{clip}",
        "motion": {"enabled": gate},
    }


def sample(http: httpx.Client, process: psutil.Process, camera_id: str) -> tuple[float, ...]:
    """(time, CPU seconds, frames captured, frames inferred) now."""
    status = http.get(f"/v1/cameras/{camera_id}").json()["status"]
    cpu = process.cpu_times()
    inferred = (status.get("motion") or {}).get("frames_inferred", status["frames"])
    return time.monotonic(), cpu.user + cpu.system, status["frames"], inferred


def by_phase(samples: list[tuple[float, ...]], clip: PhaseClip) -> dict[str, dict[str, float]]:
    """CPU % and inferred frames/s over the sampling intervals that lie in one phase."""
    spans: dict[str, list[tuple[float, float, float]]] = {"still": [], "moving": []}
    for (t0, c0, f0, i0), (t1, c1, f1, i1) in itertools.pairwise(samples):
        if f0 < 1 or clip.phase(int(f0)) != clip.phase(int(f1)):
            continue
        spans["moving" if clip.moving(int(f0)) else "still"].append((t1 - t0, c1 - c0, i1 - i0))
    out = {}
    for name, rows in spans.items():
        wall = sum(r[0] for r in rows) or float("nan")
        out[name] = {
            "cpu_percent": round(100 * sum(r[1] for r in rows) / wall, 1),
            "inferred_per_s": round(sum(r[2] for r in rows) / wall, 2),
            "seconds": round(sum(r[0] for r in rows), 1),
        }
    return out


def run_one(workdir: Path, clip: PhaseClip, gate: bool, loops: float) -> dict:
    workdir.mkdir(parents=True)
    with start_server(workdir, [camera("cam", clip.path, gate)]) as server:
        process = psutil.Process(server.process.pid)
        recorder = Recorder(f"{server.ws_url}/v1/cameras/cam/ws?video=0")
        recorder.start()
        samples = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            end = time.monotonic() + loops * clip.loop_frames / clip.fps
            while time.monotonic() < end:
                samples.append(sample(http, process, "cam"))
                time.sleep(1.0)
        recorder.stop()
    return {"phases": by_phase(samples, clip), "messages": recorder.messages}


def moving_frames(messages: list[Message], clip: PhaseClip) -> dict[tuple[int, int], Message]:
    """Inferred frames of the moving phases, keyed by (moving phase number, frame in it)."""
    out = {}
    for m in messages:
        if m.carried or not clip.moving(m.frame_id):
            continue
        loop, into = divmod(m.frame_id - 1, clip.loop_frames)
        out[(loop, into - clip.still_frames)] = m
    return out


def first_detection_latencies(messages: list[Message], clip: PhaseClip) -> list[float]:
    """Per moving phase seen from its start: seconds from its first frame's capture to the
    first message with detections."""
    latencies = []
    loops = {(m.frame_id - 1) // clip.loop_frames for m in messages}
    for loop in sorted(loops):
        start = loop * clip.loop_frames + clip.still_frames + 1
        after = [m for m in messages if m.frame_id >= start and clip.moving(m.frame_id)]
        if not after or after[0].frame_id > start + 2:
            continue  # the run began or ended inside this phase
        anchor = after[0]
        captured = anchor.captured_at - (anchor.frame_id - start) / clip.fps
        found = next((m for m in after if not m.carried and m.detections), None)
        if found is not None:
            latencies.append(found.received - captured)
    return latencies


def idf1(gated: list[Message], ungated: list[Message], clip: PhaseClip) -> tuple[float, int]:
    """The gated tracks against the ungated ones (as truth) on frames both inferred."""
    ours, theirs = moving_frames(gated, clip), moving_frames(ungated, clip)
    keys = sorted(set(ours) & set(theirs))
    # loops are numbered per run: pair the k-th loop of one with the k-th of the other
    truth, tracked = [], []
    for key in keys:
        truth.append(tuple(_truth(d) for d in theirs[key].detections))
        tracked.append([_detection(d) for d in ours[key].detections])
    if not keys:
        return float("nan"), 0
    return round(score(truth, tracked).idf1, 4), len(keys)


def _box(d: dict) -> tuple[float, float, float, float]:
    b = d["box"]
    return b["x1"], b["y1"], b["x2"], b["y2"]


def _truth(d: dict) -> TruthBox:
    return TruthBox(d["track_id"] or 0, d["label"], d["class_id"], *_box(d))


def _detection(d: dict) -> Detection:
    return Detection(d["label"], d["class_id"], d["confidence"], *_box(d), track_id=d["track_id"])


def eight_cameras(root: Path, clip: PhaseClip, seconds: float) -> dict:
    still = write_phase_clip(root / "still.avi", still_s=10.0, moving_s=0.0)
    cameras = [camera(f"still{i}", still.path, True) for i in range(7)]
    cameras.append(camera("mover", clip.path, True))
    workdir = root / "eight"
    workdir.mkdir()
    with start_server(workdir, cameras) as server:
        process = psutil.Process(server.process.pid)
        samples = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                samples.append(sample(http, process, "mover"))
                time.sleep(1.0)
            fps_out = [c["status"]["fps_out"] for c in http.get("/v1/cameras").json()["cameras"]]
    phases = by_phase(samples, clip)
    return {
        "cpu_percent_all_still": phases["still"]["cpu_percent"],
        "cpu_percent_one_moving": phases["moving"]["cpu_percent"],
        "mover_inferred_per_s_moving": phases["moving"]["inferred_per_s"],
        "cores": psutil.cpu_count(),
        "fps_out_last": fps_out,
    }


def detector_cost(frames: int = 300) -> dict[str, float]:
    walking = TrajectoryScene.load(0, FPS)
    pictures = [walking.render(i % walking.frames) for i in range(frames)]
    detector = MotionDetector(MotionSettings())
    times = []
    for index, pixels in enumerate(pictures):
        start = time.perf_counter()
        detector.detect(pixels, index / FPS)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
    }


def unwatched_still_cpu(root: Path, gate: bool, seconds: float = 20.0) -> float:
    """The service's CPU with one camera on a still clip and nobody watching (the phase runs
    above have a viewer taking every frame's message, which costs a few % itself)."""
    still = write_phase_clip(root / "still-only.avi", still_s=10.0, moving_s=0.0)
    workdir = root / f"unwatched-{gate}"
    workdir.mkdir()
    with start_server(workdir, [camera("cam", still.path, gate)]) as server:
        process = psutil.Process(server.process.pid)
        time.sleep(3.0)
        cpu0, t0 = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = process.cpu_times(), time.monotonic()
    return round(100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0), 1)


def demo_cpu(root: Path, default: bool, seconds: float) -> float:
    """The demo camera a first run starts (`default`), or as it was before the gate: every
    frame inferred, no fps limit."""
    config = DEMO_CAMERA.model_dump()
    if not default:
        config["motion"]["enabled"] = False
        config["fps_limit"] = None
    workdir = root / f"demo-{default}-{time.monotonic_ns()}"
    workdir.mkdir()
    with start_server(workdir, [config]) as server:
        process = psutil.Process(server.process.pid)
        cpu0, t0 = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = process.cpu_times(), time.monotonic()
    return round(100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--still-s", type=float, default=30.0)
    parser.add_argument("--moving-s", type=float, default=30.0)
    parser.add_argument("--loops", type=float, default=2.0)
    parser.add_argument("--demo-s", type=float, default=60.0, help="0: skip the demo camera")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = write_phase_clip(root / "phases.avi", args.still_s, args.moving_s)
        runs: dict[str, list[dict]] = {"gated": [], "ungated": []}
        for round_ in range(args.rounds):
            order = ("gated", "ungated") if round_ % 2 == 0 else ("ungated", "gated")
            for name in order:
                result = run_one(root / f"{name}-{round_}", clip, name == "gated", args.loops)
                runs[name].append(result)
                print(f"round {round_ + 1} {name}: {result['phases']}", flush=True)
        unwatched = {"gated": unwatched_still_cpu(root, True)}
        unwatched["ungated"] = unwatched_still_cpu(root, False)
        print(f"one still camera, nobody watching: {unwatched}", flush=True)
        eight = eight_cameras(root, clip, seconds=clip.loop_frames / clip.fps + 5)
        print(f"8 cameras: {eight}", flush=True)
        demo = {}
        if args.demo_s:
            demo = {"default": demo_cpu(root, True, args.demo_s)}
            demo["every_frame"] = demo_cpu(root, False, args.demo_s)
            print(f"demo camera: {demo}", flush=True)
    cost = detector_cost()

    def median(name: str, phase: str, key: str) -> float:
        return statistics.median(r["phases"][phase][key] for r in runs[name])

    gated_latency = [
        x for r in runs["gated"] for x in first_detection_latencies(r["messages"], clip)
    ]
    ungated_latency = [
        x for r in runs["ungated"] for x in first_detection_latencies(r["messages"], clip)
    ]
    scores = [
        idf1(g["messages"], u["messages"], clip)
        for g, u in zip(runs["gated"], runs["ungated"], strict=True)
    ]
    summary = {
        "clip": {"still_s": args.still_s, "moving_s": args.moving_s, "fps": FPS},
        "rounds": args.rounds,
        "cpu_percent": {
            name: {phase: median(name, phase, "cpu_percent") for phase in ("still", "moving")}
            for name in runs
        },
        "inferred_per_s": {
            name: {phase: median(name, phase, "inferred_per_s") for phase in ("still", "moving")}
            for name in runs
        },
        "first_detection_s": {
            "gated_max": round(max(gated_latency), 3) if gated_latency else None,
            "gated_all": [round(x, 3) for x in gated_latency],
            "ungated_median": round(statistics.median(ungated_latency), 3)
            if ungated_latency
            else None,
            "bound_s": round(statistics.median(ungated_latency) + 1 / FPS, 3)
            if ungated_latency
            else None,
        },
        "idf1_gated_vs_ungated": [s[0] for s in scores],
        "idf1_frames": [s[1] for s in scores],
        "still_unwatched_cpu_percent": unwatched,
        "eight_cameras": eight,
        "motion_detector_ms_720p": cost,
        "demo_camera_cpu_percent": demo,
        "targets": {
            "still_cpu_percent": 15.0,
            "idf1": 0.95,
            "detector_ms": 2.0,
        },
    }
    print()
    print(f"{'set-up':<9}{'phase':<8}{'CPU %':>8}{'inferred/s':>12}")
    for name in runs:
        for phase in ("still", "moving"):
            print(
                f"{name:<9}{phase:<8}{summary['cpu_percent'][name][phase]:>8.1f}"
                f"{summary['inferred_per_s'][name][phase]:>12.2f}"
            )
    first = summary["first_detection_s"]
    print(
        f"first motion -> first detection: gated max {first['gated_max']} s, "
        f"bound {first['bound_s']} s"
    )
    print(f"IDF1 gated vs ungated: {summary['idf1_gated_vs_ungated']}")
    print(
        f"one still camera, nobody watching: gated {unwatched['gated']} % CPU, "
        f"ungated {unwatched['ungated']} %"
    )
    print(
        f"8 cameras: all still {eight['cpu_percent_all_still']} % CPU, one moving "
        f"{eight['cpu_percent_one_moving']} %, "
        f"mover inferred {eight['mover_inferred_per_s_moving']}/s"
    )
    print(f"motion detector: {cost['p50_ms']} ms p50, {cost['p95_ms']} ms p95 per 720p frame")
    if demo:
        print(
            f"demo camera: as a first run starts it {demo['default']} % CPU, "
            f"every frame inferred {demo['every_frame']} %"
        )
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
