"""The demo model shipped inside the package: YOLOv3-tiny (COCO) imported from Darknet."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_MODEL_NAME = "yolov3-tiny"
DEMO_MODEL_FILE = "yolov3-tiny-coco.onnx"


def demo_model_path() -> Path:
    """Where the packaged demo ONNX file lies (package data, never downloaded)."""
    return Path(str(resources.files(__package__).joinpath(DEMO_MODEL_FILE)))
