"""Topic names and state payloads, Frigate's layout where Frigate has one:

    <prefix>/available                               online | offline (retained; the last will)
    <prefix>/events                                  {"type", "before", "after"} (not retained)
    <prefix>/<camera>/<label>                        objects of that label in view now
    <prefix>/<camera>/all                            all objects in view now
    <prefix>/<camera>/<label>/snapshot               the latest event snapshot, JPEG
    <prefix>/<camera>/<zone>/<label>                 objects of that label in the zone now
    <prefix>/<camera>/lines/<line>/<direction>/<label>   the line's count

All retained but the events. Labels stay as they are ("traffic light", as Frigate publishes
them); only MQTT's reserved characters become '_' so that a label is one topic level and never
a wildcard. Camera, zone and line names are slugs already. A zone named like a label, or a
label named "all", "lines" or "snapshot", would share a topic: Frigate has the same rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

EventKind = Literal["new", "update", "end"]
EVENT_KINDS: tuple[EventKind, ...] = ("new", "update", "end")
ONLINE, OFFLINE = b"online", b"offline"
_RESERVED = re.compile(r"[/+#\x00]")


class Message(NamedTuple):
    topic: str
    payload: bytes
    retain: bool


def level(name: str) -> str:
    """`name` as one topic level: '/', '+', '#' and NUL replaced by '_', never empty."""
    return _RESERVED.sub("_", name) or "_"


def available_topic(prefix: str) -> str:
    return f"{prefix}/available"


def events_topic(prefix: str) -> str:
    return f"{prefix}/events"


def total_topic(prefix: str, camera: str) -> str:
    return f"{prefix}/{level(camera)}/all"


def snapshot_topic(prefix: str, camera: str, label: str) -> str:
    return f"{prefix}/{level(camera)}/{level(label)}/snapshot"


@dataclass(frozen=True)
class CountGroup:
    """Counts published together, one topic per label: a camera's objects in view (neither
    zone nor line), a zone's occupancy, or one direction of a line."""

    camera: str
    zone: str | None = None
    line: str | None = None
    direction: str | None = None

    def topic(self, prefix: str, label: str) -> str:
        base = f"{prefix}/{level(self.camera)}"
        if self.line is not None:
            return f"{base}/lines/{level(self.line)}/{level(self.direction or '')}/{level(label)}"
        if self.zone is not None:
            return f"{base}/{level(self.zone)}/{level(label)}"
        return f"{base}/{level(label)}"


def count_payload(count: int) -> bytes:
    return str(int(count)).encode()


def event_message(
    prefix: str, kind: EventKind, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> Message:
    """Frigate's event message: for "new", `before` is the event as it started (== after)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"event type {kind!r} is not one of {EVENT_KINDS}")
    body = {
        "type": kind,
        "before": dict(before if before is not None else after),
        "after": dict(after),
    }
    return Message(events_topic(prefix), json.dumps(body, separators=(",", ":")).encode(), False)
