"""Is the service responsive while it is busy with its own housekeeping?

    .venv/bin/python benchmarks/responsiveness.py [--uploads 6] [--cycles 6] [--json out.json]

A real service (demo model, demo camera, nobody watching) on loopback; at once: `--uploads`
model uploads (each validated: ONNX checks, a test inference, a latency benchmark) each
followed by a listing, and `--cycles` demo cameras added and removed; meanwhile /healthz is
probed every 20 ms by a separate client. Target (issue 14): /healthz p99 < 100 ms, max
< 300 ms, and every request answered 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from appliance.devtools.churn import churn
from appliance.devtools.models import second_model
from appliance.devtools.server import start_server

DEMO_CAMERA = {"id": "demo", "name": "Demo", "uri": "demo://"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = [
            second_model(work / f"upload-{i}.onnx", variant=str(i)) for i in range(args.uploads)
        ]
        quiet = {"APPLIANCE_LOG_LEVEL": "WARNING", "APPLIANCE_PROVIDERS": "cpu"}
        with start_server(work / "serve", [DEMO_CAMERA], env=quiet) as server:
            report = asyncio.run(churn(server.url, models, args.cycles))
    probes = np.array(report.healthz_ms)
    statuses = report.uploads + report.listings + report.camera_changes
    result = {
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
        "probes": len(probes),
        "healthz_p50_ms": round(float(np.percentile(probes, 50)), 1),
        "healthz_p99_ms": round(float(np.percentile(probes, 99)), 1),
        "healthz_max_ms": round(float(probes.max()), 1),
        "healthz_mean_ms": round(statistics.fmean(probes), 1),
        "uploads": report.uploads,
        "camera_changes": report.camera_changes,
        "targets": {"healthz_p99_ms": "< 100", "healthz_max_ms": "< 300", "requests": "2xx"},
    }
    result["met"] = {
        "p99": result["healthz_p99_ms"] < 100,
        "max": result["healthz_max_ms"] < 300,
        "requests": all(200 <= s < 300 for s in statuses),
    }
    line = "{:<22} {:>10}"
    for key in ("probes", "healthz_p50_ms", "healthz_p99_ms", "healthz_max_ms"):
        print(line.format(key, result[key]))
    print(line.format("requests 2xx", f"{sum(200 <= s < 300 for s in statuses)}/{len(statuses)}"))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
