"""One object, one box: a box lying inside another box of its class merges into it.

YOLOv3-tiny (two detection scales) often finds an object twice: the whole of it, and a
smaller box of the same class inside it, at IoU ~0.3, which per-class NMS at 0.45 keeps.
Either of the two may score higher, so dropping only the lower-scoring inner box leaves half
of them; dropping the lower-scoring of the two lets the box jump between the whole object
and its part from frame to frame, which trackers and counting lines take for motion. So the
enclosing box stays, with the better of the two scores, and the inner box goes.

The exception is a group box: one that holds two higher-scoring boxes that do not hold each
other (two people side by side, boxed together and less surely). It is the one that goes.

A model asks for this in its metadata (`suppress_nested`: a containment fraction, or `off`);
Darknet imports, which show the problem, have it at `DARKNET_CONTAIN` unless they say.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from appliance.errors import UnsupportedModelError

METADATA_KEY = "suppress_nested"
DARKNET_CONTAIN = 0.8  # benchmarks/nested_boxes.py: 0.9 leaves 4x the doubled people
# Boxes at least this sure take part whatever a request's conf (decode.py): the cameras'
# decode floor, so a camera and a detect request merge the same boxes
NESTED_FLOOR = 0.1
_OFF = {"off", "none", "false", "0", ""}


def nested_setting(metadata: Mapping[str, str]) -> float | None:
    """The containment fraction a model's metadata asks for, None for off. Unsaid, it is on
    for Darknet imports (`source: darknet`, as the importer writes) and off for the rest:
    a real nested pair of one class (a child in front of an adult) is what it costs."""
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        return DARKNET_CONTAIN if metadata.get("source") == "darknet" else None
    if raw.strip().lower() in _OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise UnsupportedModelError(
            f"model metadata {METADATA_KEY}={raw!r}: give a fraction in (0, 1] or 'off'"
        )
    return value


def suppress_nested(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, contain: float
) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the boxes to keep, every box's score after merging), for boxes in
    descending score order as NMS leaves them. A box of which at least `contain` of the area
    lies inside a larger box of its class merges into it, and that box takes its score if
    higher; a group box goes instead (module docstring). Dense over the n x n pairs: few
    NumPy calls is what keeps it cheap at tens of boxes (benchmarks/nested_boxes.py)."""
    count = len(boxes)
    inside = _inside(boxes, classes, contain)  # inside[i, j]: box i merges into box j
    if not np.count_nonzero(inside):
        return np.arange(count), scores
    group = _group_boxes(inside) if np.count_nonzero(inside) > 1 else None
    if group is not None:
        inside[:, group] = False
    absorbed = inside.any(axis=1)
    chain = np.count_nonzero(absorbed & inside.any(axis=0))  # a part that holds a part
    np.fill_diagonal(inside, True)
    best = inside.argmax(axis=0)  # the first (surest) of a box and its parts
    while chain:  # a part's own parts count too: follow them down until nothing changes
        deeper = np.where(inside, best[:, None], count).min(axis=0)
        if np.array_equal(deeper, best):
            break
        best = deeper
    if group is not None:
        absorbed |= group
    return np.flatnonzero(~absorbed), scores[best]


def _inside(boxes: np.ndarray, classes: np.ndarray, contain: float) -> np.ndarray:
    """inside[i, j]: i and j of one class, j the larger, holding `contain` of i's area."""
    coords = np.ascontiguousarray(boxes.T)  # x1, y1, x2, y2 rows: both axes in one call
    overlap = np.minimum(coords[2:, :, None], coords[2:, None, :])
    overlap -= np.maximum(coords[:2, :, None], coords[:2, None, :])
    np.maximum(overlap, 0, out=overlap)
    sides = coords[2:] - coords[:2]
    area = sides[0] * sides[1]
    need = np.maximum(contain * area, 1e-3)  # a box of no area lies inside nothing
    inside = overlap[0] * overlap[1] >= need[:, None]
    inside &= np.less.outer(area, area)
    inside &= np.equal.outer(classes, classes)
    return inside


def _group_boxes(inside: np.ndarray) -> np.ndarray | None:
    """Boxes that hold two surer boxes which do not hold each other (None: none)."""
    order = np.arange(len(inside))
    surer = inside & np.less.outer(order, order)  # in score order: earlier is surer
    if np.count_nonzero(surer) < 2:
        return None
    suspects = np.flatnonzero(surer.sum(axis=0) >= 2)
    if suspects.size == 0:
        return None
    apart = ~(inside | inside.T)
    np.fill_diagonal(apart, False)
    members = surer[:, suspects].astype(np.float32)
    unrelated_pairs = ((members.T @ apart.astype(np.float32)) * members.T).sum(axis=1)
    if not np.count_nonzero(unrelated_pairs):
        return None
    group = np.zeros(len(inside), dtype=bool)
    group[suspects[unrelated_pairs > 0]] = True
    return group
