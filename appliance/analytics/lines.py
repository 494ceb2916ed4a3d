"""Counting line crossings of tracked objects, by direction and label.

An object is where it stands: the bottom centre of its box. Each track has a settled side
of the line; it changes only once the object is clearly on the other side (beyond a dead
band around the line), and that change counts when the step between the two settled
positions passes through the segment itself. So jitter on the line, a box straddling it for
many frames or a few dropped detections count once, and walking round an end point does not
count at all.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from appliance.analytics.geometry import (
    Point,
    crosses_segment,
    foot,
    scaled,
    signed_distance,
)
from appliance.domain import Detection

Direction = Literal["in", "out"]
DEAD_BAND = 0.01  # of the frame's diagonal: closer to the line than this is "on it"
FORGET_S = 10.0  # a track unseen this long is forgotten


@dataclass(frozen=True)
class LineSpec:
    """A line as the user drew it: two distinct normalised points, and the classes it
    counts (ids; None: all). `in` is the crossing towards the side of the normal (dy, -dx)."""

    points: tuple[Point, Point]
    classes: frozenset[int] | None = None


@dataclass(frozen=True)
class Crossing:
    line: str
    direction: Direction
    label: str
    track_id: int


@dataclass
class _TrackSide:
    side: int  # +1 on the normal's side, -1 opposite, 0 not yet known
    settled_at: Point  # where the object last stood clearly on `side`
    seen: float


class LineCounts:
    """Crossings since the line was made or reset, by direction then label. Shared by the
    counters a line has had (its geometry may change; its counts stay), safe across threads."""

    def __init__(self, saved: dict[str, dict[str, int]] | None = None) -> None:
        saved = saved or {}
        self._tallies: dict[Direction, Counter[str]] = {
            "in": Counter(saved.get("in", {})),
            "out": Counter(saved.get("out", {})),
        }
        self._lock = threading.Lock()
        self.changes = 0  # grows with every crossing and reset: persistence compares it

    def add(self, crossings: Sequence[Crossing]) -> None:
        with self._lock:
            for crossing in crossings:
                self._tallies[crossing.direction][crossing.label] += 1
            self.changes += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {direction: dict(tally) for direction, tally in self._tallies.items()}

    def totals(self) -> tuple[int, int]:
        """(in, out) over every label, for drawing."""
        with self._lock:
            return self._tallies["in"].total(), self._tallies["out"].total()

    def reset(self) -> None:
        with self._lock:
            self._tallies = {"in": Counter(), "out": Counter()}
            self.changes += 1


class LineCounter:
    """What one line knows of each track, on the camera's worker thread; it adds what it
    sees to `counts`."""

    def __init__(self, name: str, spec: LineSpec, counts: LineCounts | None = None) -> None:
        self.name = name
        self.spec = spec
        self.counts = counts or LineCounts()
        self._tracks: dict[int, _TrackSide] = {}

    def update(
        self, detections: Sequence[Detection], size: tuple[int, int], now: float
    ) -> list[Crossing]:
        """Feed one frame's tracked detections (`size` = width, height; `now` in seconds)."""
        a, b = scaled(self.spec.points, *size)
        band = DEAD_BAND * (size[0] ** 2 + size[1] ** 2) ** 0.5
        crossings = []
        for d in detections:
            if d.track_id is None or (
                self.spec.classes is not None and d.class_id not in self.spec.classes
            ):
                continue
            point = foot(d.x1, d.x2, d.y2, size)
            distance = signed_distance(a, b, point)
            side = 0 if abs(distance) < band else (1 if distance > 0 else -1)
            known = self._tracks.get(d.track_id)
            if known is None:
                self._tracks[d.track_id] = _TrackSide(side, point, now)
                continue
            known.seen = now
            if side == 0 or side == known.side:
                if side:
                    known.settled_at = point
                continue
            if known.side and crosses_segment(a, b, known.settled_at, point):
                direction: Direction = "in" if side > 0 else "out"
                crossings.append(Crossing(self.name, direction, d.label, d.track_id))
            known.side, known.settled_at = side, point
        if crossings:
            self.counts.add(crossings)
        self._forget(now)
        return crossings

    def _forget(self, now: float) -> None:
        stale = [t for t, known in self._tracks.items() if now - known.seen > FORGET_S]
        for track_id in stale:
            del self._tracks[track_id]
