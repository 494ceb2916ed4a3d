"""Soak: a real `appliance serve` under steady load for N minutes, sampled over time.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--interval 60] [--detect-rps 4]
                                        [--no-auth] [--json out.json]

Load: 4 cameras (2 demo scenes, 2 looped MJPG clips of real photos, 5 fps each), 4 viewers
(one per camera: camera WebSocket with video, MJPEG, WebSocket, MJPEG) and a steady
POST /v1/detect load (--detect-clients clients, each paced to its share of --detect-rps).
Every interval: the service's RSS, open file descriptors and threads, p95 latencies of
detect and of capture -> WebSocket receipt, and frames each viewer got.

Pass: errors == 0 (any non-200 detect, viewer that drops, camera not streaming or with an
inference error); RSS and file descriptors flat after warm-up; p95 latencies stable.
Prints a table as it goes and the JSON report at the end; exit status 1 on any error.
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from appliance.devtools.clip import write_clip
from appliance.devtools.scene import compose_scene
from appliance.devtools.server import Server, rss_mb, start_server

QUIET = {"APPLIANCE_LOG_LEVEL": "WARNING", "APPLIANCE_PROVIDERS": "cpu"}
FPS = 5
LINE = "{:>6} {:>8} {:>5} {:>7} {:>9} {:>9} {:>9} {:>12} {:>7}"


@dataclass
class Window:
    """What happened since the last sample."""

    detect_ms: list[float] = field(default_factory=list)
    view_ms: list[float] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)


@dataclass
class Soak:
    server: Server
    seconds: float
    detect_rps: float  # per client
    window: Window = field(default_factory=Window)
    errors: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def error(self, what: str) -> None:
        if len(self.errors) < 100:
            self.errors.append(f"{time.strftime('%H:%M:%S')} {what}")
        print("ERROR", what, flush=True)

    async def detect_load(self, http: httpx.AsyncClient) -> None:
        jpeg = compose_scene().jpeg()
        period, next_at = 1 / self.detect_rps, time.monotonic()
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                response = await http.post(
                    "/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}
                )
                if response.status_code != 200:
                    self.error(f"detect {response.status_code}: {response.text[:200]}")
                else:
                    self.window.detect_ms.append((time.perf_counter() - start) * 1000)
            except httpx.HTTPError as exc:
                self.error(f"detect: {exc!r}")
            # steady: a client that fell behind goes on from now, it does not burst to catch up
            next_at = max(next_at + period, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def ws_viewer(self, camera: str) -> None:
        url = f"{self.server.ws_url}/v1/cameras/{camera}/ws"
        headers = self.server.headers
        try:
            async with websockets.connect(url, max_size=None, additional_headers=headers) as ws:
                captured = None
                while not self.stop.is_set():
                    message = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(message, str):
                        captured = json.loads(message)["captured_at"]
                    elif captured is not None:
                        self.window.view_ms.append((time.time() - captured) * 1000)
                        self._count(camera)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
            if not self.stop.is_set():
                self.error(f"viewer {camera} (WebSocket): {exc!r}")

    async def mjpeg_viewer(self, http: httpx.AsyncClient, camera: str) -> None:
        try:
            async with http.stream("GET", f"/v1/cameras/{camera}/stream.mjpg") as stream:
                if stream.status_code != 200:
                    self.error(f"viewer {camera} (MJPEG): {stream.status_code}")
                    return
                async for chunk in stream.aiter_bytes():
                    self.window.frames[camera] = self.window.frames.get(camera, 0) + chunk.count(
                        b"--frame\r\n"
                    )
                    if self.stop.is_set():
                        return
        except httpx.HTTPError as exc:
            if not self.stop.is_set():
                self.error(f"viewer {camera} (MJPEG): {exc!r}")

    def _count(self, camera: str) -> None:
        self.window.frames[camera] = self.window.frames.get(camera, 0) + 1

    async def sampler(self, http: httpx.AsyncClient, interval: float, cameras: list[str]) -> None:
        start = time.monotonic()
        print(LINE.format("min", "RSS MB", "fds", "threads", "detect/s", "det p95", "view p95",
                          "frames/viewer", "errors"), flush=True)  # fmt: skip
        while not self.stop.is_set():
            await asyncio.sleep(interval)
            window, self.window = self.window, Window()
            await self._check_cameras(http, cameras)
            sample = self._sample(window, interval, (time.monotonic() - start) / 60, cameras)
            self.samples.append(sample)
            print(LINE.format(sample["minute"], sample["rss_mb"], sample["fds"],
                              sample["threads"], sample["detect_per_s"], sample["detect_p95_ms"],
                              sample["view_p95_ms"], sample["min_frames_per_viewer"],
                              sample["errors"]), flush=True)  # fmt: skip
            if time.monotonic() - start >= self.seconds:
                self.stop.set()

    async def _check_cameras(self, http: httpx.AsyncClient, cameras: list[str]) -> None:
        try:
            listed = (await http.get("/v1/cameras")).json()["cameras"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.error(f"GET /v1/cameras: {exc!r}")
            return
        for camera in listed:
            status = camera["status"]
            if status["state"] != "streaming" or status["inference_error"]:
                self.error(f"camera {camera['id']}: {status['state']} {status['inference_error']}")
        if sorted(c["id"] for c in listed) != sorted(cameras):
            self.error(f"cameras listed: {[c['id'] for c in listed]}")

    def _sample(self, window: Window, interval: float, minute: float, cameras: list[str]) -> dict:
        pid = self.server.process.pid
        return {
            "minute": round(minute, 2),
            "rss_mb": round(rss_mb(pid), 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": _threads(pid),
            "detect_per_s": round(len(window.detect_ms) / interval, 2),
            "detect_p95_ms": _p95(window.detect_ms),
            "detect_p50_ms": _p50(window.detect_ms),
            "view_p95_ms": _p95(window.view_ms),
            "view_p50_ms": _p50(window.view_ms),
            "min_frames_per_viewer": min(window.frames.get(c, 0) for c in cameras),
            "errors": len(self.errors),
        }


def _p95(values: list[float]) -> float | None:
    return round(sorted(values)[int(0.95 * (len(values) - 1))], 1) if values else None


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


async def run(soak: Soak, interval: float, cameras: list[str], clients: int) -> None:
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(
        base_url=soak.server.url, headers=soak.server.headers, timeout=30, limits=limits
    ) as http:
        viewers = [
            soak.ws_viewer(cameras[0]),
            soak.mjpeg_viewer(http, cameras[1]),
            soak.ws_viewer(cameras[2]),
            soak.mjpeg_viewer(http, cameras[3]),
        ]
        tasks = [asyncio.create_task(v) for v in viewers]
        tasks += [asyncio.create_task(soak.detect_load(http)) for _ in range(clients)]
        await soak.sampler(http, interval, cameras)
        await asyncio.sleep(1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def summary(soak: Soak) -> dict:
    """Trends from the first sample after warm-up (a minute in, or the second) to the last."""
    samples = soak.samples
    warm = next((s for s in samples if s["minute"] >= 1.0), samples[min(1, len(samples) - 1)])
    last = samples[-1]

    def trend(key: str) -> dict:
        values = [s[key] for s in samples[samples.index(warm) :] if s[key] is not None]
        return {"after_warmup": warm[key], "last": last[key], "min": min(values),
                "max": max(values)}  # fmt: skip

    return {
        "errors": len(soak.errors),
        "rss_mb": trend("rss_mb"),
        "rss_growth_mb": round(last["rss_mb"] - warm["rss_mb"], 1),
        "fds": trend("fds"),
        "threads": trend("threads"),
        "detect_per_s": trend("detect_per_s"),
        "detect_p95_ms": trend("detect_p95_ms"),
        "view_p95_ms": trend("view_p95_ms"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=60, help="seconds between samples")
    parser.add_argument("--detect-rps", type=float, default=4, help="all clients together")
    parser.add_argument("--detect-clients", type=int, default=2)
    parser.add_argument("--no-auth", action="store_true", help="serve with APPLIANCE_AUTH=0")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.avi", frames=90)
        scene = f"demo://?fps={FPS}&width=1280&height=720"
        cameras = [
            {"id": "demo1", "name": "Demo 1", "uri": scene},
            {"id": "clip1", "name": "Clip 1", "uri": f"file://{clip}", "fps_limit": FPS},
            {"id": "demo2", "name": "Demo 2", "uri": scene},
            {"id": "clip2", "name": "Clip 2", "uri": f"file://{clip}", "fps_limit": FPS},
        ]
        ids = [c["id"] for c in cameras]
        with start_server(work / "serve", cameras, env=QUIET, auth=not args.no_auth) as server:
            soak = Soak(server, args.minutes * 60, args.detect_rps / args.detect_clients)
            asyncio.run(run(soak, args.interval, ids, args.detect_clients))
            log_tail = server.log_text()[-2000:]

    report = {
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
        "minutes": args.minutes,
        "load": {
            "cameras": 4,
            "camera_fps": FPS,
            "viewers": 4,
            "detect_rps": args.detect_rps,
            "detect_clients": args.detect_clients,
            "auth": not args.no_auth,
        },
        "summary": summary(soak),
        "errors": soak.errors,
        "samples": soak.samples,
    }
    if soak.errors:
        report["server_log_tail"] = log_tail
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if soak.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
