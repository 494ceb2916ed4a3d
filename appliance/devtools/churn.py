"""Busy work for a running service: model uploads and listings, cameras added and removed,
while /healthz is probed. What the responsiveness test and benchmark share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROBE_EVERY_S = 0.02


@dataclass
class ChurnReport:
    healthz_ms: list[float] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)  # status of each upload
    listings: list[int] = field(default_factory=list)
    camera_changes: list[int] = field(default_factory=list)


async def churn(
    url: str, models: list[Path], camera_cycles: int, *, headers: dict[str, str] | None = None
) -> ChurnReport:
    """Upload each model (and list the repository after each), and add then remove a demo
    camera `camera_cycles` times, all at once, while /healthz is probed every 20 ms."""
    report = ChurnReport()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as http:

        async def upload(path: Path) -> None:
            with path.open("rb") as handle:
                data = handle.read()
            answer = await http.post("/v1/models", files={"file": (path.name, data)})
            report.uploads.append(answer.status_code)
            report.listings.append((await http.get("/v1/models")).status_code)

        async def cameras(index: int) -> None:
            camera = {"id": f"churn-{index}", "name": f"Churn {index}", "uri": "demo://"}
            report.camera_changes.append((await http.post("/v1/cameras", json=camera)).status_code)
            await asyncio.sleep(0.5)
            gone = await http.delete(f"/v1/cameras/churn-{index}")
            report.camera_changes.append(gone.status_code)

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=30) as prober:
                while not stop.is_set():
                    start = time.perf_counter()
                    answer = await prober.get("/healthz")
                    answer.raise_for_status()
                    report.healthz_ms.append((time.perf_counter() - start) * 1000)
                    await asyncio.sleep(PROBE_EVERY_S)

        prober = asyncio.create_task(probe())
        await asyncio.sleep(0.5)  # a quiet baseline first
        work = [upload(path) for path in models] + [cameras(i) for i in range(camera_cycles)]
        await asyncio.gather(*work)
        stop.set()
        await prober
    return report
