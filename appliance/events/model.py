"""The event record: one tracked object's life, as the store keeps it and as the API, the live
WebSocket and MQTT all show it (`to_api`)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

# Frigate-style ids: the start time first, so ids sort by time and name files safely. Test
# with `fullmatch` (Python's `$` also matches before a trailing newline).
EVENT_ID = re.compile(r"^[0-9]+\.[0-9]{6}-[a-z0-9]{6}$")
# The same pattern as appliance.config.CAMERA_ID (a test keeps them equal): camera ids name
# folders, so only ids that cannot escape them are stored.
CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_event_id(start_time: float) -> str:
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(6))
    return f"{start_time:.6f}-{suffix}"


@dataclass(frozen=True)
class LineCrossing:
    line: str
    direction: str  # "in" | "out"
    at: float  # epoch seconds

    def to_api(self) -> dict[str, Any]:
        return {"line": self.line, "direction": self.direction, "at": self.at}


@dataclass(frozen=True)
class EventRecord:
    id: str
    camera: str
    label: str
    track_id: int
    start_time: float  # epoch seconds (the first frame's captured_at)
    end_time: float | None  # None while the object is still in view
    top_score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels, at the top score
    frame_width: int
    frame_height: int
    zones: tuple[str, ...] = ()  # zones entered, in order, no repeats
    lines: tuple[LineCrossing, ...] = ()
    has_snapshot: bool = False
    has_clip: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera": self.camera,
            "label": self.label,
            "track_id": self.track_id,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "top_score": self.top_score,
            "box": list(self.box),
            "frame": {"width": self.frame_width, "height": self.frame_height},
            "zones": list(self.zones),
            "lines": [crossing.to_api() for crossing in self.lines],
            "has_snapshot": self.has_snapshot,
            "has_clip": self.has_clip,
        }

    def to_row(self) -> tuple[Any, ...]:
        """The values of `COLUMNS`, in order (sequences as JSON text)."""
        return (
            self.id,
            self.camera,
            self.label,
            self.track_id,
            self.start_time,
            self.end_time,
            self.top_score,
            json.dumps(list(self.box)),
            self.frame_width,
            self.frame_height,
            json.dumps(list(self.zones)),
            json.dumps([c.to_api() for c in self.lines]),
            int(self.has_snapshot),
            int(self.has_clip),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> EventRecord:
        """The inverse of `to_row`: a row selected as `COLUMNS`."""
        (id_, camera, label, track, start, end, score, box, width, height, zones, lines) = row[:12]
        x1, y1, x2, y2 = (float(v) for v in json.loads(box))
        return cls(
            id=id_,
            camera=camera,
            label=label,
            track_id=track,
            start_time=start,
            end_time=end,
            top_score=score,
            box=(x1, y1, x2, y2),
            frame_width=width,
            frame_height=height,
            zones=tuple(json.loads(zones)),
            lines=tuple(LineCrossing(**c) for c in json.loads(lines)),
            has_snapshot=bool(row[12]),
            has_clip=bool(row[13]),
        )


COLUMNS = (
    "id",
    "camera",
    "label",
    "track_id",
    "start_time",
    "end_time",
    "top_score",
    "box",
    "frame_width",
    "frame_height",
    "zones",
    "lines",
    "has_snapshot",
    "has_clip",
)


def check_names(record: EventRecord) -> None:
    """Refuse ids that could not name a file safely (they become paths)."""
    if not EVENT_ID.fullmatch(record.id):
        raise ValueError(f"not an event id: {record.id!r}")
    if not CAMERA_ID.fullmatch(record.camera):
        raise ValueError(f"not a camera id: {record.camera!r}")
