"""Which of a model's labels a camera's event labels mean."""

from __future__ import annotations

from collections.abc import Sequence

# COCO as Darknet's coco.names spells it (the demo model) against the usual spelling
_ALIASES = {
    "motorcycle": "motorbike",
    "airplane": "aeroplane",
    "couch": "sofa",
    "tv": "tvmonitor",
    "dining table": "diningtable",
    "potted plant": "pottedplant",
}


def event_labels(wanted: Sequence[str], labels: Sequence[str]) -> frozenset[str]:
    """The model's names for the labels (or ids) asked for. Like Frigate's object list, it
    is a wish list: a label this model lacks is skipped (the next model may have it), and
    COCO's two spellings (motorcycle, motorbike) both work."""
    known = set(labels)
    names = set()
    for item in wanted:
        if item.isdigit() and int(item) < len(labels):
            names.add(labels[int(item)])
        elif item in known:
            names.add(item)
        elif _ALIASES.get(item) in known:
            names.add(_ALIASES[item])
        elif (back := {v: k for k, v in _ALIASES.items()}.get(item)) in known:
            names.add(back)
    return frozenset(names)
