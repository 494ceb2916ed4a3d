"""Plain text of stored events (as `EventRecord.to_api()` gives them): times, durations,
scores and one-line sentences. Pure functions, shared by the Events and Activity pages."""

from __future__ import annotations

import time
from typing import Any

Event = dict[str, Any]


def clock(at: float, now: float | None = None) -> str:
    """ "14:03:22" today, "Dec 05 14:03:22" on another day (local time)."""
    moment, today = time.localtime(at), time.localtime(time.time() if now is None else now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%b %d %H:%M:%S", moment)


def duration(start: float, end: float | None) -> str:
    """ "in progress" while the object is in view, else "4.2 s", "1 min 05 s", "2 h 03 min"."""
    if end is None:
        return "in progress"
    seconds = max(0.0, end - start)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def score(value: float) -> str:
    return f"{100 * value:.0f}%"


def title(event: Event) -> str:
    """ "person #3": what the event is about, as the camera page names tracked objects."""
    return f"{event.get('label', '?')} #{event.get('track_id', '?')}"


def crossing(line: dict[str, Any], now: float | None = None) -> str:
    """ "door in at 14:03:22"."""
    return f"{line.get('line')} {line.get('direction')} at {clock(float(line['at']), now)}"


def sentence(kind: str, event: Event) -> str:
    """One line for an event message of the live bus: kind is "new", "update" or "end"."""
    who = f"{event.get('camera')}: {title(event)}"
    if kind == "new":
        return f"{who} appeared ({score(event.get('top_score', 0.0))})"
    if kind == "end":
        took = duration(float(event.get("start_time", 0.0)), event.get("end_time"))
        return f"{who} gone after {took}"
    details = [f"best {score(event.get('top_score', 0.0))}"]
    if event.get("zones"):
        details.append("zones " + ", ".join(event["zones"]))
    if event.get("lines"):
        crossed = (f"{c['line']} {c['direction']}" for c in event["lines"])
        details.append("crossed " + ", ".join(crossed))
    return f"{who} {', '.join(details)}"
