"""TEMPORARY stand-in (not committed): greedy IoU tracker until the ByteTrack branch lands."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.domain import Detection


@dataclass(frozen=True)
class TrackerSettings:
    high: float = 0.25
    low: float = 0.1


def _iou(a: Detection, b: Detection) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


class ByteTracker:
    def __init__(self, settings: TrackerSettings = TrackerSettings(), first_id: int = 1) -> None:
        self.settings = settings
        self.next_id = first_id
        self._tracks: dict[int, tuple[Detection, float]] = {}

    def update(self, detections: Sequence[Detection], at: float) -> tuple[Detection, ...]:
        out = []
        free = {k: v for k, v in self._tracks.items() if at - v[1] < 1.0}
        for d in sorted(detections, key=lambda d: -d.confidence):
            best = max(
                (k for k, (t, _) in free.items() if t.class_id == d.class_id),
                key=lambda k: _iou(free[k][0], d),
                default=None,
            )
            if best is not None and _iou(free[best][0], d) > 0.2:
                free.pop(best)
                tid = best
            elif d.confidence >= self.settings.high:
                tid = self.next_id
                self.next_id += 1
            else:
                continue
            self._tracks[tid] = (d, at)
            out.append(dataclasses.replace(d, track_id=tid))
        return tuple(out)
