"""The stages that make a camera report rather than draw: tracking, then lines and zones.

Both keep their state in objects the camera's service owns (a tracker, counters), so a
retune that rebuilds the stage list keeps track ids and counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from appliance.analytics.lines import LineCounter
from appliance.analytics.tracker import ByteTracker
from appliance.analytics.zones import ZoneCounter
from appliance.domain import LineOverlay, ProcessedFrame, SceneChange, SceneOverlay, ZoneOverlay

Report = Callable[..., None]  # report(kind, **fields): e.g. the event bus's publish


@dataclasses.dataclass(frozen=True)
class TrackingStage:
    """Gives every detection its track's id (the tracker sees the weak boxes too)."""

    tracker: ByteTracker
    name: str = "tracker"

    def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
        tracked = self.tracker.update(processed.result.detections, processed.frame.captured_mono)
        result = dataclasses.replace(processed.result, detections=tracked)
        return dataclasses.replace(processed, result=result)


@dataclasses.dataclass(frozen=True)
class SceneStage:
    """Counts line crossings and zone stays of the tracked detections, reports each one,
    and leaves the lines and zones on the frame for the annotated stream."""

    camera_id: str
    lines: Sequence[LineCounter]
    zones: Sequence[ZoneCounter]
    report: Report
    name: str = "scene"

    def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
        result, frame = processed.result, processed.frame
        size, now = (result.width, result.height), frame.captured_mono
        at: dict[str, Any] = {"camera": self.camera_id, "at": round(frame.captured_at, 3)}
        changes: list[SceneChange] = []
        for line in self.lines:
            for crossing in line.update(result.detections, size, now):
                changes.append(
                    SceneChange(
                        "line",
                        crossing.line,
                        crossing.track_id,
                        crossing.label,
                        crossing.direction,
                    )
                )
                self.report(
                    "line.crossed",
                    **at,
                    line=crossing.line,
                    direction=crossing.direction,
                    label=crossing.label,
                    track_id=crossing.track_id,
                )
        for zone in self.zones:
            for event in zone.update(result.detections, size, now):
                changes.append(
                    SceneChange(f"zone.{event.change}", event.zone, event.track_id, event.label)
                )
                self.report(
                    f"zone.{event.change}",
                    **at,
                    zone=event.zone,
                    label=event.label,
                    track_id=event.track_id,
                )
        overlay = SceneOverlay(
            lines=tuple(
                LineOverlay(line.name, line.spec.points, *line.counts.totals())
                for line in self.lines
            ),
            zones=tuple(
                ZoneOverlay(zone.name, zone.spec.points, sum(zone.occupancy().values()))
                for zone in self.zones
            ),
            changes=tuple(changes),
        )
        return dataclasses.replace(processed, overlay=overlay)
