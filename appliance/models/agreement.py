"""How far two models' detections agree: boxes matched one to one at IoU >= 0.5 with the same
label, summed over images, as an F1 score (1.0: the same objects found by both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from appliance.analytics.tracker import box_iou
from appliance.domain import Detection

MATCH_IOU = 0.5


@dataclass(frozen=True)
class Agreement:
    reference: int  # detections of the reference model, over all images
    candidate: int
    matched: int
    images: int

    @property
    def f1(self) -> float:
        """2 * matched / (reference + candidate); 1.0 when neither found anything."""
        total = self.reference + self.candidate
        return 1.0 if total == 0 else 2 * self.matched / total

    def summary(self) -> dict[str, float | int]:
        return {
            "f1": round(self.f1, 4),
            "images": self.images,
            "reference_detections": self.reference,
            "candidate_detections": self.candidate,
            "matched": self.matched,
        }


def agreement(
    reference: Sequence[Sequence[Detection]], candidate: Sequence[Sequence[Detection]]
) -> Agreement:
    """Per image, greedy one-to-one matching by descending IoU (boxes of one label only)."""
    matched = sum(_matches(a, b) for a, b in zip(reference, candidate, strict=True))
    return Agreement(
        reference=sum(len(a) for a in reference),
        candidate=sum(len(b) for b in candidate),
        matched=matched,
        images=len(reference),
    )


def _matches(reference: Sequence[Detection], candidate: Sequence[Detection]) -> int:
    if not reference or not candidate:
        return 0
    iou = box_iou(_boxes(reference), _boxes(candidate))
    same = np.array([[a.label == b.label for b in candidate] for a in reference])
    iou = np.where(same, iou, 0.0)
    used_a: set[int] = set()
    used_b: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), len(candidate))
        if iou[i, j] < MATCH_IOU:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def _boxes(detections: Sequence[Detection]) -> np.ndarray:
    return np.array([(d.x1, d.y1, d.x2, d.y2) for d in detections], dtype=np.float64)
