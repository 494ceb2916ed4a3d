"""Class labels of a model: from its metadata, a sidecar file beside it, or COCO."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path

from appliance.errors import UnsupportedModelError

COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

SIDECAR_SUFFIXES = (".names", ".labels.txt", ".labels.json")


def parse_names(raw: str) -> tuple[str, ...]:
    """Parse a `names` value: a dict {id: name} or a list, as Python literal or JSON."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise UnsupportedModelError(f"model metadata 'names' is unreadable: {exc}") from None
    if isinstance(value, Mapping):
        ids = sorted(int(k) for k in value)
        if ids != list(range(len(ids))):
            raise UnsupportedModelError("model metadata 'names' ids are not 0..N-1")
        return tuple(str(value[k] if k in value else value[str(k)]) for k in ids)
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) for v in value)
    raise UnsupportedModelError("model metadata 'names' holds no labels")


def sidecar_for(model_path: Path) -> Path | None:
    """The first label file next to the model (`model.names`, `model.labels.txt/json`)."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = model_path.with_name(model_path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(path: Path) -> tuple[str, ...]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return parse_names(text)
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise UnsupportedModelError(f"label file {path.name} is empty")
    return labels


def resolve_labels(metadata: Mapping[str, str], model_path: Path | None) -> tuple[str, ...]:
    """Labels in order of trust: the model's own metadata, a sidecar file, then COCO."""
    if "names" in metadata:
        return parse_names(metadata["names"])
    sidecar = sidecar_for(model_path) if model_path is not None else None
    if sidecar is not None:
        return read_sidecar(sidecar)
    return COCO_LABELS
