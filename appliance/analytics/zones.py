"""Zone occupancy of tracked objects: who is inside now, how many have entered, who lingers.

An object is where it stands: the bottom centre of its box. It enters once it has been inside
for `inertia` consecutive frames (a box flickering on the edge does not), and leaves once it
has been outside for as many frames or unseen for `lost_s` seconds (the tracker lost it).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from appliance.analytics.geometry import Point, foot, inside_polygon, scaled
from appliance.domain import Detection

ZoneChange = Literal["entered", "left", "loitering"]


@dataclass(frozen=True)
class ZoneSpec:
    """A zone as the user drew it: a simple polygon of normalised points."""

    points: tuple[Point, ...]
    classes: frozenset[int] | None = None
    inertia: int = 3
    loiter_s: float | None = None
    lost_s: float = 1.0


@dataclass(frozen=True)
class ZoneEvent:
    zone: str
    change: ZoneChange
    label: str
    track_id: int


@dataclass
class _Stay:
    label: str
    inside: bool = False
    streak: int = 0  # consecutive frames on the other side of `inside`
    since: float = 0.0  # when it entered
    seen: float = 0.0
    loitered: bool = False


class ZoneCounts:
    """How many tracked objects entered since the zone was made, by label; shared by the
    counters a zone has had, safe across threads."""

    def __init__(self, saved: dict[str, dict[str, int]] | None = None) -> None:
        self._entered: Counter[str] = Counter((saved or {}).get("entered", {}))
        self._lock = threading.Lock()
        self.changes = 0  # grows with every entry and reset: persistence compares it

    def add(self, label: str) -> None:
        with self._lock:
            self._entered[label] += 1
            self.changes += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"entered": dict(self._entered)}

    def reset(self) -> None:
        with self._lock:
            self._entered = Counter()
            self.changes += 1


class ZoneCounter:
    """One zone's stays, on the camera's worker thread; `occupancy` may be read from any."""

    def __init__(self, name: str, spec: ZoneSpec, counts: ZoneCounts | None = None) -> None:
        self.name = name
        self.spec = spec
        self.counts = counts or ZoneCounts()
        self._stays: dict[int, _Stay] = {}
        self._occupancy: dict[str, int] = {}

    def update(
        self, detections: Sequence[Detection], size: tuple[int, int], now: float
    ) -> list[ZoneEvent]:
        polygon = scaled(self.spec.points, *size)
        events: list[ZoneEvent] = []
        for d in detections:
            if d.track_id is None or (
                self.spec.classes is not None and d.class_id not in self.spec.classes
            ):
                continue
            stay = self._stays.setdefault(d.track_id, _Stay(d.label))
            stay.seen = now
            if inside_polygon(polygon, foot(d.x1, d.x2, d.y2, size)) != stay.inside:
                stay.streak += 1
            else:
                stay.streak = 0
            if stay.streak >= self.spec.inertia:
                stay.inside, stay.streak, stay.since = not stay.inside, 0, now
                stay.loitered = False
                change: ZoneChange = "entered" if stay.inside else "left"
                events.append(ZoneEvent(self.name, change, stay.label, d.track_id))
            loiter = self.spec.loiter_s
            lingering = loiter is not None and now - stay.since >= loiter
            if stay.inside and lingering and not stay.loitered:
                stay.loitered = True
                events.append(ZoneEvent(self.name, "loitering", stay.label, d.track_id))
        for track_id, stay in list(self._stays.items()):
            if now - stay.seen > self.spec.lost_s:
                del self._stays[track_id]
                if stay.inside:
                    events.append(ZoneEvent(self.name, "left", stay.label, track_id))
        for event in events:
            if event.change == "entered":
                self.counts.add(event.label)
        # a new dict each frame, swapped in whole: readers on other threads never see one
        # half-built
        self._occupancy = dict(Counter(stay.label for stay in self._stays.values() if stay.inside))
        return events

    def occupancy(self) -> dict[str, int]:
        return self._occupancy
