"""Event records for the store tests: real values, varied the way a camera makes them."""

from __future__ import annotations

import random

from appliance.events.model import EventRecord, LineCrossing, new_event_id

CAMERAS = ("front", "yard", "garage")
LABELS = ("person", "car", "dog")
ZONES = ("door", "drive", "lawn")


def record(
    start: float,
    *,
    camera: str = "front",
    label: str = "person",
    end: float | None = None,
    score: float = 0.6,
    zones: tuple[str, ...] = (),
    track: int = 1,
    event_id: str | None = None,
) -> EventRecord:
    return EventRecord(
        id=event_id or new_event_id(start),
        camera=camera,
        label=label,
        track_id=track,
        start_time=start,
        end_time=end,
        top_score=score,
        box=(10.5, 20.0, 110.25, 220.0),
        frame_width=1280,
        frame_height=720,
        zones=zones,
        lines=(LineCrossing("gate", "in", start + 0.5),) if "door" in zones else (),
        has_snapshot=True,
        has_clip=end is not None,
    )


def varied(count: int, *, seed: int = 0, start: float = 1_700_000_000.0) -> list[EventRecord]:
    """`count` ended events over cameras, labels and zones; about half share their start
    time with the one before (objects that appear in the same frame)."""
    rng = random.Random(seed)
    out, t = [], start
    while len(out) < count:
        t += rng.choice((0.0, 0.0, 1 / 15, 3.0))
        zones = tuple(rng.sample(ZONES, rng.randrange(len(ZONES) + 1)))
        camera, label = rng.choice(CAMERAS), rng.choice(LABELS)
        end = t + rng.uniform(1, 30)
        out.append(record(t, camera=camera, label=label, end=end, zones=zones, track=len(out)))
    return out
