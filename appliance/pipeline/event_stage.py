"""The stage that turns a camera's tracks into events and feeds its clip recorder.

It only decides and hands over: storing, snapshots, clips and messages happen on other
threads behind the `sink` and the recorder's bounded queue, so a burst of objects or a slow
disk never holds the camera's frames up."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

from appliance.domain import ProcessedFrame
from appliance.events.lifecycle import EventChange, EventTracker


class FrameRecorder(Protocol):
    def offer(self, processed: ProcessedFrame) -> None: ...


EventSink = Callable[[str, Sequence[EventChange]], None]  # (camera id, changes)


@dataclasses.dataclass(frozen=True)
class EventStage:
    camera_id: str
    tracker: EventTracker
    sink: EventSink
    recorder: FrameRecorder | None = None  # None: no clips
    name: str = "events"

    def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
        if self.recorder is not None:
            self.recorder.offer(processed)  # every frame: the pre-roll of the next event
        changes = self.tracker.update(processed)
        if changes:
            self.sink(self.camera_id, changes)
        return processed

    def carry(self, processed: ProcessedFrame) -> None:
        """A frame the motion gate did not infer: into the clip all the same (clips keep
        the camera's frame rate); time passes for the events, so one whose object is gone
        ends on time (and its clip with it) while the gate infers at its idle rate."""
        if self.recorder is not None:
            self.recorder.offer(processed)
        changes = self.tracker.alive(processed.frame.captured_mono)
        if changes:  # objects unseen long enough have left, inferred frame or not
            self.sink(self.camera_id, changes)
