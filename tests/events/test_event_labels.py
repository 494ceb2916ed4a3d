"""Event labels are a wish list against the model's own names."""

from __future__ import annotations

import onnx

from appliance.config import DEFAULT_EVENT_LABELS
from appliance.events.labels import event_labels
from appliance.models.demo import demo_model_path
from appliance.models.labels import resolve_labels

DARKNET = ["person", "bicycle", "car", "motorbike", "aeroplane", "sofa"]
COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "couch"]


def test_both_coco_spellings_name_the_models_class() -> None:
    assert event_labels(["motorcycle", "airplane", "couch"], DARKNET) == {
        "motorbike",
        "aeroplane",
        "sofa",
    }
    assert event_labels(["motorbike", "aeroplane", "sofa"], COCO) == {
        "motorcycle",
        "airplane",
        "couch",
    }


def test_ids_count_and_labels_the_model_lacks_are_skipped() -> None:
    assert event_labels(["0", "giraffe", "99", "car"], COCO) == {"person", "car"}


def test_the_default_labels_all_exist_in_the_demo_model() -> None:
    model = onnx.load(demo_model_path(), load_external_data=False)
    metadata = {p.key: p.value for p in model.metadata_props}
    labels = resolve_labels(metadata, demo_model_path())
    assert len(event_labels(DEFAULT_EVENT_LABELS, labels)) == len(DEFAULT_EVENT_LABELS)
