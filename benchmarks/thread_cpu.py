"""Where a frame's CPU time goes: this process's CPU time by thread role (psutil's
per-thread times). Imported by the scripts beside it."""

from __future__ import annotations

import threading
from collections import Counter

import psutil

ROLES = ("engine", "worker", "capture", "other")


def role_of(name: str | None) -> str:
    """The pipeline's threads by name (the Pipeline names them); a thread Python did not
    start is the engine's own pool (ONNX Runtime's, OpenVINO's). The main thread calls the
    engine in the raw-engine windows and only sleeps in the pipeline's."""
    if name is None or name.startswith("engine-") or name == "MainThread":
        return "engine"
    if name.startswith("infer-"):
        return "worker"  # picks, letterboxes, decodes detections, runs the camera's stages
    if name.startswith("camera-"):
        return "capture"  # reads and decodes the camera's frames
    return "other"


def cpu_ms_by_role() -> Counter[str]:
    """CPU ms (user + system) each role's threads have used so far, those alive now."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    used: Counter[str] = Counter()
    for thread in psutil.Process().threads():
        used[role_of(names.get(thread.id))] += (thread.user_time + thread.system_time) * 1000
    return used


class CpuTally:
    """Core-ms per frame by role, summed over the windows `add` is given."""

    def __init__(self) -> None:
        self.used: Counter[str] = Counter()
        self.frames = 0

    def add(self, before: Counter[str], after: Counter[str], frames: int) -> None:
        for role in ROLES:
            self.used[role] += max(0.0, after[role] - before[role])
        self.frames += frames

    def per_frame(self) -> dict[str, float]:
        if not self.frames:
            return {}
        shares = {role: round(self.used[role] / self.frames, 2) for role in ROLES}
        return shares | {"total": round(sum(self.used.values()) / self.frames, 2)}
