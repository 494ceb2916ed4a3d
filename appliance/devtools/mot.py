"""Tracking scores for tests and benchmarks (needs the test extra: motmetrics).

Ground truth: MOTChallenge's TUD-Campus and TUD-Stadtmitte, as motmetrics' wheel ships them
(gt.txt under motmetrics/data), and the trajectory clip's. `noisy_detections` turns ground
truth into a detector's output (jittered boxes, some dropped) to test a tracker without a
model; `score` compares tracked detections with the truth in py-motmetrics, IoU >= 0.5 being
a match. motmetrics 1.4.0 predates NumPy 2 and pandas 3: its `io.loadtxt` warns under pandas 3
and `distances.iou_matrix` calls the removed `np.asfarray`, so the files are parsed and the
distances computed here; its accumulator and metrics work as they are, given integer ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import motmetrics
import numpy as np

from appliance.analytics.tracker import ByteTracker, box_iou
from appliance.devtools.trajectories import ClipTruth, TruthBox
from appliance.domain import Detection

TUD = {"TUD-Campus": 25.0, "TUD-Stadtmitte": 25.0}  # sequence -> frames per second
Truth = Sequence[Sequence[TruthBox]]


@dataclass(frozen=True)
class Scores:
    idf1: float
    mota: float
    switches: int
    switched: tuple[tuple[int, int], ...]  # (frame index, true object id) of each id switch
    false_positives: int
    misses: int


def mot_sequence(name: str) -> tuple[tuple[TruthBox, ...], ...]:
    """A MOTChallenge ground truth that motmetrics ships, frame by frame (people only)."""
    path = Path(motmetrics.__file__).parent / "data" / name / "gt.txt"
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    frames: list[list[TruthBox]] = [[] for _ in range(int(rows[:, 0].max()))]
    for frame, object_id, x, y, w, h, flag, *_ in rows:
        if flag:  # 0: not to be tracked
            box = TruthBox(int(object_id), "person", 0, x, y, x + w, y + h)
            frames[int(frame) - 1].append(box)
    return tuple(tuple(boxes) for boxes in frames)


def noisy_detections(
    truth: Truth,
    seed: int = 0,
    jitter: float = 0.05,
    drop: float = 0.1,
    min_visibility: float = 0.5,
) -> list[list[Detection]]:
    """What a decent detector would report: each true box at least `min_visibility` in sight,
    moved by gaussian noise of `jitter` x its size per edge, confidence uniform in 0.3-0.9;
    a share `drop` of them missed (fixed `seed`)."""
    rng = np.random.default_rng(seed)
    out = []
    for boxes in truth:
        found = []
        for b in boxes:
            if rng.random() < drop or b.visibility < min_visibility:
                continue
            w, h = b.x2 - b.x1, b.y2 - b.y1
            dx1, dy1, dx2, dy2 = rng.normal(0.0, jitter, 4) * (w, h, w, h)
            confidence = float(rng.uniform(0.3, 0.9))
            edges = (b.x1 + dx1, b.y1 + dy1, b.x2 + dx2, b.y2 + dy2)
            found.append(Detection(b.label, b.class_id, confidence, *map(float, edges)))
        out.append(found)
    return out


def contained(
    detections: Sequence[Detection], share: float = 0.9, any_score: bool = False
) -> list[Detection]:
    """Without boxes lying at least `share` inside a more confident box of the same class (with
    `any_score`, inside a larger one whatever its confidence): the demo model reports a second,
    smaller box of an object inside the first."""
    if not detections:
        return []
    boxes = np.array([(d.x1, d.y1, d.x2, d.y2) for d in detections])
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    inside = inter >= share * area[:, None]  # [i, j]: box i lies inside box j
    classes = np.array([d.class_id for d in detections])
    scores = np.array([d.confidence for d in detections])
    above = area[None, :] > area[:, None] if any_score else scores[None, :] > scores[:, None]
    covered = inside & above & (classes[:, None] == classes[None, :])
    return [d for d, hidden in zip(detections, covered.any(axis=1), strict=True) if not hidden]


def score(
    truth: Truth, tracked: Sequence[Sequence[Detection]], min_visibility: float = 0.0
) -> Scores:
    """IDF1, MOTA and id switches of `tracked` (detections with track ids) against `truth`.
    True boxes less visible than `min_visibility` are left out, and so are tracked boxes that
    match only such a box (as MOTChallenge treats hidden people); tracked boxes of classes
    absent from the truth are ignored (detector mistakes, not the tracker's)."""
    classes = {b.class_id for boxes in truth for b in boxes}
    acc = motmetrics.MOTAccumulator(auto_id=True)
    for boxes, found in zip(truth, tracked, strict=True):
        kept = [b for b in boxes if b.visibility >= min_visibility]
        hidden = [b for b in boxes if b.visibility < min_visibility]
        hyps = [d for d in found if d.class_id in classes]
        hyps = [d for d in hyps if not (_overlaps(d, hidden) and not _overlaps(d, kept))]
        iou = box_iou(_array(kept), _array(hyps))
        same = np.array([[b.class_id == d.class_id for d in hyps] for b in kept], bool)
        distance = np.where((iou >= 0.5) & same.reshape(iou.shape), 1.0 - iou, np.nan)
        acc.update([b.object_id for b in kept], [d.track_id for d in hyps], distance)
    summary = motmetrics.metrics.create().compute(
        acc, metrics=["idf1", "mota", "num_switches", "num_false_positives", "num_misses"]
    )
    events = acc.mot_events
    switches = events[events["Type"] == "SWITCH"]
    frames = switches.index.get_level_values(0)
    row = summary.iloc[0]
    return Scores(
        idf1=float(row["idf1"]),
        mota=float(row["mota"]),
        switches=int(row["num_switches"]),
        switched=tuple((int(f), int(o)) for f, o in zip(frames, switches["OId"], strict=True)),
        false_positives=int(row["num_false_positives"]),
        misses=int(row["num_misses"]),
    )


def crossing_switches(scores: Scores, truth: ClipTruth, window_s: float = 1.0) -> list[int]:
    """Frames at which one of the two people of a trajectory clip changed ids within
    `window_s` of their crossing."""
    people = {b.object_id for boxes in truth.frames for b in boxes if b.label == "person"}
    window = window_s * truth.fps
    return [
        frame
        for frame, object_id in scores.switched
        if object_id in people and any(abs(frame - c) <= window for c in truth.crossings)
    ]


def track(
    tracker: ByteTracker, frames: Sequence[Sequence[Detection]], fps: float
) -> list[tuple[Detection, ...]]:
    """Each frame's detections through the tracker, captured 1/fps seconds apart."""
    return [tracker.update(found, i / fps) for i, found in enumerate(frames)]


def _array(boxes: Sequence[TruthBox | Detection]) -> np.ndarray:
    return np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], float).reshape(-1, 4)


def _overlaps(d: Detection, boxes: Sequence[TruthBox]) -> bool:
    same = [b for b in boxes if b.class_id == d.class_id]
    return bool(same) and float(box_iou(_array([d]), _array(same)).max()) >= 0.5
