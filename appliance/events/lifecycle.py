"""From tracks to events: one camera's tracked objects become events once they are sure
enough, are updated when they do something (a better score, a zone, a line) and end when the
object has been gone a while.

A track is a candidate until it has been seen in `min_frames` frames and reached
`min_score` (so a one-frame false positive never makes an event); only then does its event
start, with the time of its first frame. Everything here runs on the camera's inference
worker, except `expire`, which a watchdog calls for a camera whose frames stopped coming:
one lock keeps the two apart.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from appliance.analytics.tracker import MAX_INTERVAL_S
from appliance.domain import Detection, Frame, ProcessedFrame, SceneChange
from appliance.events.model import EventRecord, LineCrossing, new_event_id

ChangeKind = Literal["new", "update", "end"]


@dataclass(frozen=True)
class EventRules:
    """Which objects make events. `lost_s`: unseen this long, the object has left."""

    labels: frozenset[str]
    min_score: float = 0.5
    min_frames: int = 3
    lost_s: float = 1.0
    lost_frames: float = 4.0  # ...and this many frame intervals: longer than the tracker
    update_every_s: float = 1.0  # a rising score is reported at most this often


@dataclass(frozen=True)
class EventChange:
    """`snapshot`: the object's best frame, when it is new or better than the one stored."""

    kind: ChangeKind
    before: EventRecord | None
    after: EventRecord
    snapshot: Frame | None = None


@dataclass
class _Object:
    label: str
    first_at: float
    last_at: float
    last_mono: float
    frames: int = 0
    top_score: float = 0.0
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    best: Frame | None = None
    better: bool = False  # a better score since the last report
    zones: list[str] = field(default_factory=list)
    lines: list[LineCrossing] = field(default_factory=list)
    record: EventRecord | None = None
    reported_mono: float = 0.0

    def see(self, detection: Detection, frame: Frame) -> None:
        self.frames += 1
        self.last_at, self.last_mono = frame.captured_at, frame.captured_mono
        if detection.confidence > self.top_score:
            self.top_score = detection.confidence
            self.box = (detection.x1, detection.y1, detection.x2, detection.y2)
            self.best, self.better = frame, True


class EventTracker:
    """One camera's objects and their events."""

    def __init__(
        self,
        camera_id: str,
        rules: EventRules,
        new_id: Callable[[float], str] = new_event_id,
    ) -> None:
        self.camera_id = camera_id
        self.rules = rules  # swapped whole on a retune; read once per frame
        self._new_id = new_id
        self._objects: dict[int, _Object] = {}
        self._presence: dict[str, int] = {}
        self._last_mono: float | None = None  # the last frame inferred
        self._alive_mono: float | None = None  # the last frame at all (inferred or carried)
        self._interval = 0.0  # smoothed frame interval, as the tracker keeps it
        self._lock = threading.Lock()

    def update(self, processed: ProcessedFrame) -> list[EventChange]:
        """The events this frame starts, updates and ends."""
        rules, frame = self.rules, processed.frame
        size = (processed.result.width, processed.result.height)
        changes: list[EventChange] = []
        with self._lock:
            self._pace(frame.captured_mono)
            seen: set[int] = set()
            for detection in processed.result.detections:
                if detection.track_id is None or detection.label not in rules.labels:
                    continue
                obj = self._objects.get(detection.track_id)
                if obj is None:
                    obj = _Object(detection.label, frame.captured_at, 0.0, 0.0)
                    self._objects[detection.track_id] = obj
                obj.see(detection, frame)
                seen.add(detection.track_id)
            touched = self._note(processed.overlay.changes if processed.overlay else (), frame)
            for track_id in seen:
                change = self._report(track_id, self._objects[track_id], touched, size, rules)
                if change is not None:
                    changes.append(change)
            changes += self._end_gone(frame.captured_mono, self._lost_after())
        return changes

    def expire(self, now_mono: float, stalled_after_s: float = 3.0) -> list[EventChange]:
        """End the events of a camera whose frames stopped coming `stalled_after_s` ago.
        While frames come, however late (a busy engine delivers them a second or more after
        capture), only they decide: the clock of the frames, not this one."""
        with self._lock:
            if self._alive_mono is None or now_mono - self._alive_mono < stalled_after_s:
                return []
            return self._end_gone(now_mono, self._lost_after())

    def alive(self, now_mono: float) -> list[EventChange]:
        """A frame came that was not inferred (the motion gate skipped it): the camera is
        not stalled, nothing new was seen, and the events of objects unseen for as long as
        an inferred frame would allow end now."""
        with self._lock:
            self._alive_mono = now_mono
            return self._end_gone(now_mono, self._lost_after())

    def end_all(self) -> list[EventChange]:
        """The camera stops: every open event ends at its object's last sighting."""
        with self._lock:
            return self._end_gone(float("inf"), 0.0)

    def presence(self) -> dict[str, int]:
        """Objects with an open event, by label: what is in view now."""
        with self._lock:
            return dict(self._presence)

    # --- internals -------------------------------------------------------------------------

    def _pace(self, now_mono: float) -> None:
        if self._last_mono is not None:
            step = min(max(now_mono - self._last_mono, 0.0), MAX_INTERVAL_S)
            self._interval = step if not self._interval else 0.8 * self._interval + 0.2 * step
        self._last_mono = self._alive_mono = now_mono

    def _lost_after(self) -> float:
        """Unseen this long, an object has left: never sooner than the tracker drops its
        track (a slow camera's track lives several frame intervals), or one object would
        make two events."""
        return max(self.rules.lost_s, self.rules.lost_frames * self._interval)

    def _note(self, happened: Iterable[SceneChange], frame: Frame) -> set[int]:
        """Zones entered and lines crossed this frame; the tracks that did something new."""
        touched: set[int] = set()
        for change in happened:
            obj = self._objects.get(change.track_id)
            if obj is None:
                continue
            if change.kind == "zone.entered" and change.name not in obj.zones:
                obj.zones.append(change.name)
                touched.add(change.track_id)
            elif change.kind == "line":
                obj.lines.append(
                    LineCrossing(change.name, change.direction or "", round(frame.captured_at, 3))
                )
                touched.add(change.track_id)
        return touched

    def _report(
        self,
        track_id: int,
        obj: _Object,
        touched: set[int],
        size: tuple[int, int],
        rules: EventRules,
    ) -> EventChange | None:
        if obj.record is None:
            if obj.frames < rules.min_frames or obj.top_score < rules.min_score:
                return None
            record = EventRecord(
                id=self._new_id(obj.first_at),
                camera=self.camera_id,
                label=obj.label,
                track_id=track_id,
                start_time=round(obj.first_at, 3),
                end_time=None,
                top_score=round(obj.top_score, 4),
                box=obj.box,
                frame_width=size[0],
                frame_height=size[1],
                zones=tuple(obj.zones),
                lines=tuple(obj.lines),
            )
            self._presence[obj.label] = self._presence.get(obj.label, 0) + 1
            return self._emit("new", obj, record)
        due = obj.better and obj.last_mono - obj.reported_mono >= rules.update_every_s
        if track_id not in touched and not due:
            return None
        return self._emit("update", obj, self._current(obj))

    def _end_gone(self, now_mono: float, lost_s: float) -> list[EventChange]:
        ended: list[EventChange] = []
        for track_id, obj in list(self._objects.items()):
            if now_mono - obj.last_mono <= lost_s:
                continue
            del self._objects[track_id]
            if obj.record is None:
                continue
            left = self._presence.get(obj.label, 1) - 1
            self._presence[obj.label] = left
            record = dataclasses.replace(self._current(obj), end_time=round(obj.last_at, 3))
            ended.append(self._emit("end", obj, record))
        return ended

    def _current(self, obj: _Object) -> EventRecord:
        assert obj.record is not None
        return dataclasses.replace(
            obj.record,
            top_score=round(obj.top_score, 4),
            box=obj.box,
            zones=tuple(obj.zones),
            lines=tuple(obj.lines),
        )

    def _emit(self, kind: ChangeKind, obj: _Object, record: EventRecord) -> EventChange:
        before = obj.record
        snapshot = obj.best if obj.better else None
        obj.record, obj.better = record, False
        obj.reported_mono = obj.last_mono
        return EventChange(kind, before, record, snapshot)
