"""The dashboard's pure helpers: names, numbers and event lines as a user reads them."""

from __future__ import annotations

import pytest

from ui import formatting
from ui.components.camera_form import slug
from ui.pages.activity import describe
from ui.pages.models import model_name_from


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Front door", "front-door"), ("  Cam #2 (garage) ", "cam-2-garage"), ("!!!", "camera")],
)
def test_camera_ids_from_names(name: str, expected: str):
    assert slug(name) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("yolo11n (2).onnx", "yolo11n-2"), ("../../etc/passwd.onnx", "passwd"), ("---.onnx", "model")],
)
def test_model_names_from_file_names(filename: str, expected: str):
    assert model_name_from(filename) == expected


def test_numbers_read_naturally():
    assert formatting.ms(4.26) == "4.3 ms"
    assert formatting.ms(126.4) == "126 ms"
    assert formatting.ms(None) == "–"
    assert formatting.age(0.042) == "42 ms old"
    assert formatting.age(3.25) == "3.2 s old"
    assert formatting.age(None) == "no frame"
    assert formatting.size(17_700_000) == "16.9 MB"
    assert formatting.size(512) == "512 B"


def test_labels_are_counted_most_frequent_first():
    found = ["cup", "person", "cup", "cat", "person", "cup"]
    assert formatting.label_counts(found) == [("cup", 3), ("person", 2), ("cat", 1)]


def test_states_have_colours_and_unknown_ones_a_neutral_one():
    assert formatting.state_color("streaming") == "positive"
    assert formatting.state_color("reconnecting") == "warning"
    assert formatting.state_color("failed") == "negative"
    assert formatting.state_color("something new") == "grey"


def test_events_read_as_sentences():
    state = {
        "type": "camera.state",
        "at": 1.0,
        "camera": "door",
        "state": "reconnecting",
        "reason": "connection refused",
    }
    assert describe(state) == "door: reconnecting (connection refused)"
    swap = {
        "type": "model.activated",
        "at": 1.0,
        "model": "yolo11n",
        "default": True,
        "cameras": ["a"],
        "switch_ms": 3.5,
    }
    assert describe(swap) == "yolo11n active everywhere (switch 3.5 ms)"
    other = {"type": "model.uploaded", "at": 1.0, "model": "x", "version": "abc"}
    assert describe(other) == "model=x, version=abc"


def test_job_events_say_what_happened():
    """WS /v1/events carries a job as {"type": "job", "job": {...}}: a line, not a blank."""
    job = {"kind": "onnxruntime", "precision": "fp32", "model": "yolov3-tiny", "error": None}
    running = {"type": "job", "at": 1.0, "job": {**job, "state": "running", "progress": 0.4,
                                                 "message": "optimising the graph"}}  # fmt: skip
    assert describe(running) == (
        "onnxruntime fp32 build of yolov3-tiny: running 40% (optimising the graph)"
    )
    done = {"type": "job", "at": 1.0, "job": {**job, "state": "succeeded", "message": "done"}}
    assert describe(done) == "onnxruntime fp32 build of yolov3-tiny: succeeded (done)"
    failed = {**job, "state": "failed", "message": "failed", "error": "no TensorRT here"}
    assert describe({"type": "job", "at": 1.0, "job": failed}).endswith("failed (no TensorRT here)")


def test_no_event_has_an_empty_line():
    updated = {"type": "camera.updated", "at": 1.0, "camera": "door", "fields": ["fps", "uri"]}
    assert describe(updated) == "camera=door, fields=fps, uri"
    assert describe({"type": "something.new", "at": 1.0, "nested": {"a": 1}}) == "something.new"


@pytest.mark.parametrize(("number", "text"), [(0, "0 viewers"), (1, "1 viewer"), (2, "2 viewers")])
def test_counts_are_plural_unless_one(number: int, text: str):
    assert formatting.count(number, "viewer") == text
