"""ByteTrack for one camera: the same id for the same object from frame to frame.

Why our own: the `trackers` package (Roboflow's ByteTrack) requires the GUI `opencv-python` and
`supervision`. Beside our `opencv-python-headless` that puts two cv2 copies in one environment,
and on a Jetson a pip OpenCV shadows the system one that carries GStreamer (CSI cameras).
ByteTrack itself is small: a Kalman filter per track (analytics/kalman.py) and linear assignment
by `lap` (1.7 MB, BSD-2, needs only numpy, wheels for x86_64 and aarch64).

How (Zhang et al., "ByteTrack", ECCV 2022): confident detections are matched first, to every
track, by IoU with the track's predicted box weighted by the detection's confidence; tracks
followed in the last frame and left over may then take weak detections (an object half hidden
scores low but is still there); a confident detection nothing took starts a track, which a
second sighting confirms. A track nothing matched is kept `lost_s` seconds and predicted
forward. Three additions, each measured by benchmarks/tracking.py (people crossing, one hidden
for ~1 s, through the demo model, every frame and skipping frames; MOTChallenge's TUD ground
truth, jittered):
- trust: a lost track's match score wanes with the time lost, so that a track followed until
  now wins a box that one long lost would take about as well (the hidden person's prediction
  lies on the one in front);
- re-finding: a lost track's predicted box drifts (a box shrinks as its object goes behind
  another, which slows the filter just before the loss), so lost tracks get a second chance on
  boxes grown with the time lost (buffered IoU, as C-BIoU), but only ahead of where they were
  last seen along their motion (as OC-SORT's direction check): someone walking out of a
  corner does not hand their id to the next one walking in. A new track's second sighting is
  looked for likewise, its speed not being known yet (at 5 fps a walker moves half a width);
- parts: a box lying inside a box that continues a track of its class starts no track
  (detectors report an upper body, a face, inside the whole object).
Tracks only ever match detections of their own class. Time is the capture time in seconds, not
a frame count: a camera's frame rate varies and the pipeline skips frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lap
import numpy as np

from appliance.analytics import kalman
from appliance.domain import Detection

AHEAD_AFTER = 0.25  # the direction check applies once a lost track has moved this many widths
MAX_INTERVAL_S = 2.0  # frame intervals longer than this are stalls, not a slow camera


@dataclass(frozen=True)
class TrackerSettings:
    """Confidences (the camera's own threshold is `high`) and overlaps: IoU, weighted by the
    detection's confidence where marked so (ByteTrack's fused score)."""

    high: float = 0.25  # at least this confident: matched first, may start a track
    low: float = 0.1  # weaker, down to this: only continues a track followed in the last frame
    new_track: float | None = None  # least confidence to start a track; None: high + 0.1
    match_iou: float = 0.15  # least IoU x confidence to continue a track
    low_match_iou: float = 0.5  # least IoU for a weak detection (stricter, as in ByteTrack)
    confirm_iou: float = 0.3  # least IoU x confidence for a new track's second sighting
    # how long a track nothing matched is kept for re-association: someone walking behind
    # another is out of sight ~1 s, and with frames skipped (a busy engine) the frame that
    # sees them again comes later still (1.0 here: 4x the new ids at 3-7 fps; 2.0: switches)
    lost_s: float = 1.5
    lost_frames: float = 3.0  # ...and at least this many frame intervals (slow cameras)
    lost_discount: float = 0.6  # a lost track's match score shrinks by this share over lost_s
    refind_grow: float = 0.2  # re-finding: boxes grown by this share of their size each side
    refind_grow_per_s: float = 0.6  # ... and this much more per second lost (or since seen once)
    part_inside: float = 0.9  # a box this much inside a tracked box of its class starts no track

    @property
    def start(self) -> float:
        return self.high + 0.1 if self.new_track is None else self.new_track


@dataclass(slots=True)
class _Track:
    class_id: int
    seen_at: float
    last: np.ndarray  # the last box matched: centre x, y, width, height
    track_id: int | None = None  # given when confirmed, so that the ids shown have no gaps
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
        self._covs = np.zeros((0, 3, 4))
        self._last_at: float | None = None
        self._interval = 0.0  # the camera's recent frame interval (s), smoothed

    def update(self, detections: Sequence[Detection], at: float) -> tuple[Detection, ...]:
        """Match one frame's detections, captured at `at` (seconds, monotonic). Returns those
        that continue or confirm a track, each with its track id, in input order: a detection
        that only starts a track is held back until a second sighting confirms it (except on
        the first frame), and a weak one may be returned as it continues a track."""
        s, first = self.settings, self._last_at is None
        dt = 0.0 if self._last_at is None else at - self._last_at
        step = min(dt, MAX_INTERVAL_S)  # a stall is not the camera's frame rate
        self._interval = step if not self._interval else 0.8 * self._interval + 0.2 * step
        self._forget(set(), at)  # frames may have stopped coming for a while
        self._predict(dt)
        self._last_at, tracks = at, self._tracks
        dets = [d for d in detections if d.confidence >= s.low]
        boxes = np.array([(d.x1, d.y1, d.x2, d.y2) for d in dets], float).reshape(-1, 4)
        classes = np.array([d.class_id for d in dets], int)
        scores = np.array([d.confidence for d in dets])
        iou = self._iou(boxes, classes)
        strong = [j for j, d in enumerate(dets) if d.confidence >= s.high]
        weak = [j for j, d in enumerate(dets) if d.confidence < s.high]
        confirmed = [k for k, t in enumerate(tracks) if t.confirmed]
        pairs, left, strong = _assign(
            iou * scores * self._trust(at), confirmed, strong, s.match_iou
        )
        lost = [k for k in left if tracks[k].lost]
        refound: list[tuple[int, int]] = []
        if lost and strong:
            reach = self._reach(lost, boxes, classes, at) * scores
            refound, _, strong = _assign(reach, lost, strong, s.match_iou)
        followed = [k for k in left if not tracks[k].lost]
        held, missed, _ = _assign(iou, followed, weak, s.low_match_iou)
        unconfirmed = [k for k, t in enumerate(tracks) if not t.confirmed]
        seconds: list[tuple[int, int]] = []
        dropped = unconfirmed
        if unconfirmed and strong:
            reach = self._reach(unconfirmed, boxes, classes, at) * scores
            seconds, dropped, strong = _assign(reach, unconfirmed, strong, s.confirm_iou)
        pairs += refound + held + seconds
        self._correct(pairs, boxes, at)
        for k in missed:
            tracks[k].lost = True
        out = {j: _with_id(dets[j], tracks[k].track_id) for k, j in pairs}
        tracked = [j for _, j in pairs]
        self._forget(set(dropped), at)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        for j in sorted(strong, key=lambda j: -area[j]):  # a whole before its parts
            if dets[j].confidence < s.start or self._part(j, tracked, boxes, classes):
                continue
            tracked.append(j)
            self._start(classes[j], boxes[j : j + 1], at, confirm=first)
            if first:
                out[j] = _with_id(dets[j], self._tracks[-1].track_id)
        return tuple(out[j] for j in sorted(out))

    def _predict(self, dt: float) -> None:
        """Move every track `dt` seconds on; a lost track keeps its size (as in ByteTrack)."""
        lost = np.array([t.lost for t in self._tracks], bool)
        self._means[lost, 6:] = 0.0
        self._means, self._covs = kalman.predict(self._means, self._covs, dt)

    def _iou(self, boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """IoU of each track's predicted box with each box, or of the box it was seen in
        last frame where that is higher (an object turning round: the prediction carries on
        the old way, the object is still about where it was); 0 across classes."""
        same = np.array([t.class_id for t in self._tracks], int)[:, None] == classes[None, :]
        followed = [k for k, t in enumerate(self._tracks) if not t.lost]
        last = np.array([self._tracks[k].last for k in followed]).reshape(-1, 4)
        both = box_iou(kalman.to_boxes(np.concatenate([self._means[:, :4], last])), boxes)
        iou = both[: len(self._tracks)]
        iou[followed] = np.maximum(iou[followed], both[len(self._tracks) :])
        return iou * same

    def _trust(self, at: float) -> np.ndarray:
        """(tracks, 1): how far each track's predicted box is to be trusted; it wanes while
        the track stays lost (DeepSORT matches the most recently seen tracks first)."""
        lost = np.array([at - t.seen_at if t.lost else 0.0 for t in self._tracks])
        share = np.minimum(lost / self._lost_s(), 1.0)
        return (1.0 - self.settings.lost_discount * share).reshape(-1, 1)

    def _reach(
        self, rows: list[int], boxes: np.ndarray, classes: np.ndarray, at: float
    ) -> np.ndarray:
        """For tracks `rows`, lost or seen once: IoU of boxes grown with the time since the
        track's last sighting (its speed is unknown, or its prediction drifts), 0 across
        classes and for boxes behind that sighting (once it has moved far enough to tell)."""
        out = np.zeros((len(self._tracks), len(boxes)))
        predicted = kalman.to_boxes(self._means)
        centres = kalman.to_state(boxes)[:, :2]
        for k in rows:
            track, velocity = self._tracks[k], self._means[k, 4:6]
            since = at - track.seen_at
            grow = self.settings.refind_grow_per_s * since
            grow += self.settings.refind_grow if track.confirmed else 0.0
            mine = _grown(predicted[k : k + 1], grow)
            out[k] = box_iou(mine, _grown(boxes, grow))[0] * (classes == track.class_id)
            if np.linalg.norm(velocity) * since > AHEAD_AFTER * track.last[2]:
                out[k] *= (centres - track.last[:2]) @ velocity > 0
        return out

    def _correct(self, pairs: list[tuple[int, int]], boxes: np.ndarray, at: float) -> None:
        if not pairs:
            return
        rows, cols = (list(x) for x in zip(*pairs, strict=True))
        self._means[rows], self._covs[rows] = kalman.update(
            self._means[rows], self._covs[rows], boxes[cols]
        )
        for k, seen in zip(rows, kalman.to_state(boxes[cols]), strict=True):
            track = self._tracks[k]
            track.seen_at, track.last, track.lost = at, seen, False
            if track.track_id is None:
                track.track_id = self._new_id()

    def _part(self, j: int, tracked: list[int], boxes: np.ndarray, classes: np.ndarray) -> bool:
        """Whether box `j` lies inside a box of its class that continues or starts a track."""
        others = [i for i in tracked if classes[i] == classes[j]]
        if not others:
            return False
        low = np.maximum(boxes[j, :2], boxes[others, :2])
        high = np.minimum(boxes[j, 2:], boxes[others, 2:])
        inside = np.prod(np.clip(high - low, 0, None), axis=1)
        area = np.prod(boxes[j, 2:] - boxes[j, :2])
        return bool(np.any(inside >= self.settings.part_inside * area))

    def _lost_s(self) -> float:
        """How long a lost track is kept: `lost_s`, or a few frames where they come slower
        (a camera at 2 fps, or one sharing a busy engine, would otherwise lose every track
        between two frames and give each object a new id every time)."""
        return max(self.settings.lost_s, self.settings.lost_frames * self._interval)

    def _forget(self, dropped: set[int], at: float) -> None:
        """Drop unconfirmed tracks not seen again and tracks lost longer than lost_s."""
        keep = [
            k not in dropped and at - t.seen_at <= self._lost_s()
            for k, t in enumerate(self._tracks)
        ]
        self._tracks = [t for t, kept in zip(self._tracks, keep, strict=True) if kept]
        self._means, self._covs = self._means[keep], self._covs[keep]

    def _start(self, class_id: int, box: np.ndarray, at: float, confirm: bool) -> None:
        """A new track at `box` (1, 4); confirmed at once only on the tracker's first frame."""
        mean, cov = kalman.initiate(box)
        track = _Track(int(class_id), at, mean[0, :4], self._new_id() if confirm else None)
        self._tracks.append(track)
        self._means = np.concatenate([self._means, mean])
        self._covs = np.concatenate([self._covs, cov])

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


def _with_id(d: Detection, track_id: int | None) -> Detection:
    """`d` with its track id (the constructor: dataclasses.replace costs 3x as much)."""
    return Detection(d.label, d.class_id, d.confidence, d.x1, d.y1, d.x2, d.y2, track_id)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes x1, y1, x2, y2 -> (N, M) intersection over union."""
    # plain ufuncs: np.clip and np.prod cost several times more per call on small arrays
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    side = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:]) - low, 0.0)
    inter = side[..., 0] * side[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _grown(boxes: np.ndarray, share: float) -> np.ndarray:
    """Boxes widened by `share` of their width on each side, and of their height likewise."""
    size = boxes[:, 2:] - boxes[:, :2]
    return boxes + np.hstack([-size, size]) * share


def _assign(
    score: np.ndarray, rows: list[int], cols: list[int], least: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (row, col) maximising the total score among pairs scoring at least `least`; and
    the rows and the columns left unpaired."""
    if not rows or not cols:
        return [], rows, cols
    cost = 1.0 - score[np.ix_(rows, cols)]
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - least)
    pairs = [(rows[i], cols[j]) for i, j in enumerate(x) if j >= 0 and cost[i, j] <= 1 - least]
    paired_rows, paired_cols = {r for r, _ in pairs}, {c for _, c in pairs}
    left_rows = [r for r in rows if r not in paired_rows]
    return pairs, left_rows, [c for c in cols if c not in paired_cols]
