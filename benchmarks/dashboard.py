"""What the dashboard costs: 8 live tiles open in headless Chromium vs no browser, one run.

    .venv/bin/python benchmarks/dashboard.py [--seconds 30] [--json out.json]

The service runs 8 demo cameras at 10 fps each (80 frames/s: more than one CPU inference worker
takes, so inference is saturated and processed frames/s is the pipeline's throughput; at 15 fps
rendering the demo scenes alone would take half of a 2-core machine). Phases, each
`--seconds` long, on the same server:

1. no viewer (frames are inferred, never encoded);
2. the Live page with 8 tiles in headless Chromium (every processed frame is JPEG-encoded once
   and each tile fetches its newest frame).

Reported: processed frames/s and their ratio (target: < 10 % loss), the server's CPU per
second, the server's CPU per processed frame, and Chromium's CPU (on an appliance the browser
usually runs on another machine; here it shares the same two cores, so the ratio is a
pessimistic bound).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from appliance.devtools.server import start_server

CAMERAS = [
    {"id": f"cam{i}", "name": f"Camera {i}", "uri": "demo://", "capture_fps": 10} for i in range(8)
]
INFERRED = re.compile(r'appliance_frame_stage_seconds_count\{camera="[^"]+",stage="infer"\} (\S+)')


def inferred_frames(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in INFERRED.findall(text))


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(url: str, server: psutil.Process, browser: list[psutil.Process], seconds: float):
    frames0, cpu0, browser0 = inferred_frames(url), cpu_seconds([server]), cpu_seconds(browser)
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    frames = inferred_frames(url) - frames0
    server_cpu = cpu_seconds([server]) - cpu0
    return {
        "fps": round(frames / elapsed, 2),
        "server_cpu_percent": round(100 * server_cpu / elapsed, 1),
        "server_cpu_ms_per_frame": round(1000 * server_cpu / max(frames, 1), 2),
        "browser_cpu_percent": round(100 * (cpu_seconds(browser) - browser0) / elapsed, 1),
    }


def open_live_page(url: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1500,1000"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.get(url + "/")
    deadline = time.monotonic() + 60
    count = "return document.querySelectorAll('[data-camera] img[src*=frame]').length"
    while driver.execute_script(count) < len(CAMERAS):
        if time.monotonic() > deadline:
            raise RuntimeError("the Live page never showed 8 tiles")
        time.sleep(0.5)
    return driver


def browser_processes(driver) -> list[psutil.Process]:
    root = psutil.Process(driver.service.process.pid)
    return [root, *root.children(recursive=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_server(Path(tmp), CAMERAS) as server:
        process = psutil.Process(server.process.pid)
        time.sleep(5)  # past start-up: warm caches, steady rates
        idle = measure(server.url, process, [], args.seconds)
        driver = open_live_page(server.url, Path(tmp) / "profile")
        try:
            time.sleep(5)
            viewing = measure(server.url, process, browser_processes(driver), args.seconds)
        finally:
            driver.quit()
    ratio = round(viewing["fps"] / idle["fps"], 3) if idle["fps"] else None
    results = {"no_viewer": idle, "eight_tiles": viewing, "throughput_ratio": ratio}
    print(f"{'phase':<14}{'frames/s':>10}{'server CPU %':>14}{'CPU ms/frame':>14}{'browser %':>11}")
    for name, row in (("no viewer", idle), ("8 tiles open", viewing)):
        print(
            f"{name:<14}{row['fps']:>10}{row['server_cpu_percent']:>14}"
            f"{row['server_cpu_ms_per_frame']:>14}{row['browser_cpu_percent']:>11}"
        )
    loss = None if ratio is None else round(100 * (1 - ratio), 1)
    print(f"throughput with 8 tiles / without: {ratio} (loss {loss} %, target < 10 %)")
    print(json.dumps(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
