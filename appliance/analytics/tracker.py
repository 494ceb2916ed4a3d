"""ByteTrack for one camera: the same id for the same object from frame to frame.

Why our own: the `trackers` package (Roboflow's ByteTrack) requires the GUI `opencv-python` and
`supervision`. Beside our `opencv-python-headless` that puts two cv2 copies in one environment,
and on a Jetson a pip OpenCV shadows the system one that carries GStreamer (CSI cameras).
ByteTrack itself is small: a Kalman filter per track (analytics/kalman.py) and linear assignment
by `lap` (1.7 MB, BSD-2, needs only numpy, wheels for x86_64 and aarch64).

How (Zhang et al., "ByteTrack", ECCV 2022): confident detections are matched first, to every
track, by IoU with the track's predicted box; tracks left over may then take weak detections
(an object half hidden scores low but is still there); a confident detection nothing took
starts a track, which a second sighting confirms. A track nothing matched is kept `lost_s`
seconds and predicted forward, so that an object hidden for a moment (two people crossing)
gets its id back. Tracks only ever match detections of their own class. Time is the capture
time in seconds, not a frame count: a camera's frame rate varies and the pipeline skips frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import lap
import numpy as np

from appliance.analytics import kalman
from appliance.domain import Detection


@dataclass(frozen=True)
class TrackerSettings:
    """Confidence thresholds (the camera's own threshold is `high`) and overlaps (IoU)."""

    high: float = 0.25  # at least this confident: matched first, may start a track
    low: float = 0.1  # weaker, down to this: only continues a track followed in the last frame
    new_track: float | None = None  # least confidence to start a track; None: high + 0.1
    match_iou: float = 0.2  # least IoU between a confident detection and a predicted box
    low_match_iou: float = 0.5  # the same for a weak detection (stricter, as in ByteTrack)
    confirm_iou: float = 0.3  # the same for a new track's second sighting
    lost_s: float = 1.0  # how long a track nothing matched is kept for re-association

    @property
    def start(self) -> float:
        return self.high + 0.1 if self.new_track is None else self.new_track


@dataclass(slots=True)
class _Track:
    class_id: int
    seen_at: float
    track_id: int | None = None  # given when confirmed, so that ids shown are not gappy
    lost: bool = False

    @property
    def confirmed(self) -> bool:
        return self.track_id is not None


class ByteTracker:
    """Tracks one camera's detections. Not thread-safe: one caller, frames in capture order."""

    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        self.settings = settings
        self._next_id = 1  # never reset: ids stay unique for the tracker's life
        self.reset()

    def reset(self) -> None:
        """Forget every track (the camera restarted); ids already given are not reused."""
        self._tracks: list[_Track] = []
        self._means = np.zeros((0, 8))
        self._covs = np.zeros((0, 8, 8))
        self._last_at: float | None = None

    def update(self, detections: Sequence[Detection], at: float) -> tuple[Detection, ...]:
        """Match one frame's detections, captured at `at` (seconds, monotonic). Returns those
        of the confirmed tracks they continue or confirm, each with its track id, in input
        order; a detection that only starts a track is left out until a second sighting."""
        s = self.settings
        first = self._last_at is None
        self._predict(0.0 if self._last_at is None else at - self._last_at)
        self._last_at = at
        dets = [d for d in detections if d.confidence >= s.low]
        boxes = np.array([(d.x1, d.y1, d.x2, d.y2) for d in dets], float).reshape(-1, 4)
        iou = self._iou(boxes, np.array([d.class_id for d in dets], int))
        strong = [j for j, d in enumerate(dets) if d.confidence >= s.high]
        weak = [j for j, d in enumerate(dets) if d.confidence < s.high]
        confirmed = [k for k, t in enumerate(self._tracks) if t.confirmed]
        pairs, left, strong = _assign(iou, confirmed, strong, s.match_iou)
        followed = [k for k in left if not self._tracks[k].lost]
        second, missed, _ = _assign(iou, followed, weak, s.low_match_iou)
        unconfirmed = [k for k, t in enumerate(self._tracks) if not t.confirmed]
        third, dropped, strong = _assign(iou, unconfirmed, strong, s.confirm_iou)
        pairs += second + third
        self._correct(pairs, boxes, at)
        for k in missed:
            self._tracks[k].lost = True
        out = {j: dataclasses.replace(dets[j], track_id=self._tracks[k].track_id) for k, j in pairs}
        self._forget(set(dropped), at)
        for j in strong:
            if dets[j].confidence >= s.start:
                self._start(dets[j].class_id, boxes[j : j + 1], at, confirm=first)
                if first:
                    out[j] = dataclasses.replace(dets[j], track_id=self._tracks[-1].track_id)
        return tuple(out[j] for j in sorted(out))

    def _predict(self, dt: float) -> None:
        """Move every track `dt` seconds on; a lost track keeps its size (as in ByteTrack)."""
        lost = np.array([t.lost for t in self._tracks], bool)
        self._means[lost, 6:] = 0.0
        self._means, self._covs = kalman.predict(self._means, self._covs, dt)

    def _iou(self, boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """IoU of each track's predicted box with each box; 0 across classes."""
        same = np.array([t.class_id for t in self._tracks], int)[:, None] == classes[None, :]
        return box_iou(kalman.to_boxes(self._means), boxes) * same

    def _correct(self, pairs: list[tuple[int, int]], boxes: np.ndarray, at: float) -> None:
        if not pairs:
            return
        rows, cols = (list(x) for x in zip(*pairs, strict=True))
        self._means[rows], self._covs[rows] = kalman.update(
            self._means[rows], self._covs[rows], boxes[cols]
        )
        for k in rows:
            track = self._tracks[k]
            track.seen_at, track.lost = at, False
            if track.track_id is None:
                track.track_id = self._new_id()

    def _forget(self, dropped: set[int], at: float) -> None:
        """Drop unconfirmed tracks not seen again and tracks lost longer than lost_s."""
        keep = [
            k not in dropped and at - t.seen_at <= self.settings.lost_s
            for k, t in enumerate(self._tracks)
        ]
        self._tracks = [t for t, kept in zip(self._tracks, keep, strict=True) if kept]
        self._means, self._covs = self._means[keep], self._covs[keep]

    def _start(self, class_id: int, box: np.ndarray, at: float, confirm: bool) -> None:
        """A new track at `box` (1, 4); confirmed at once only on the tracker's first frame."""
        mean, cov = kalman.initiate(box)
        self._tracks.append(_Track(class_id, at, self._new_id() if confirm else None))
        self._means = np.concatenate([self._means, mean])
        self._covs = np.concatenate([self._covs, cov])

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes x1, y1, x2, y2 -> (N, M) intersection over union."""
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _assign(
    iou: np.ndarray, rows: list[int], cols: list[int], least: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (row, col) maximising total IoU among pairs overlapping at least `least`; and the
    rows and the columns left unpaired."""
    if not rows or not cols:
        return [], rows, cols
    cost = 1.0 - iou[np.ix_(rows, cols)]
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - least)
    pairs = [(rows[i], cols[j]) for i, j in enumerate(x) if j >= 0 and cost[i, j] <= 1 - least]
    paired_rows, paired_cols = {r for r, _ in pairs}, {c for _, c in pairs}
    left_rows = [r for r in rows if r not in paired_rows]
    return pairs, left_rows, [c for c in cols if c not in paired_cols]
