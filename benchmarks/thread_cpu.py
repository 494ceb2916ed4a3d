"""Where a frame's CPU time goes: this process's CPU time by thread role, read from
/proc (Linux; elsewhere the tally stays empty). Imported by the scripts beside it."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

TASKS = Path("/proc/self/task")
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
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    used: Counter[str] = Counter()
    if not TASKS.is_dir():
        return used
    for task in TASKS.iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended between the listing and the read
        fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and parens
        used[role_of(names.get(int(task.name)))] += (int(fields[11]) + int(fields[12])) * tick_ms
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
