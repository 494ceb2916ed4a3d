"""PLACEHOLDER until the store branch lands (same interface)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LineCrossing:
    line: str
    direction: str
    at: float


@dataclass(frozen=True)
class EventRecord:
    id: str
    camera: str
    label: str
    track_id: int
    start_time: float
    end_time: float | None
    top_score: float
    box: tuple[float, float, float, float]
    frame_width: int
    frame_height: int
    zones: tuple[str, ...] = ()
    lines: tuple[LineCrossing, ...] = ()
    has_snapshot: bool = False
    has_clip: bool = False

    def to_api(self) -> dict[str, Any]:
        return {}


def new_event_id(start_time: float) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"{start_time:.6f}-" + "".join(secrets.choice(alphabet) for _ in range(6))
