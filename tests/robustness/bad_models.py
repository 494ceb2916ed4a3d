"""ONNX models that pass every check the appliance makes (graph, input, output family, a test
inference on the demo scene, a warm-up on a blank frame) and then misbehave on bright
frames: they stand for models that break on inputs their validation never showed them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROWS, COLS = 2535, 85  # YOLOv3-tiny's [N, 5+80] at 416x416: the COCO labels apply
BRIGHT = 0.65  # mean input: blank warm-up 0.45, the demo scene 0.43, a white clip 0.76


def _graph(name: str, nodes: list, output: onnx.ValueInfoProto, inits: list) -> onnx.ModelProto:
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])
    graph = helper.make_graph(nodes, name, [images], [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _mean_nodes() -> list:
    return [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0)]


def nan_model(path: Path) -> Path:
    """All zeros (no detections) on ordinary frames; NaN everywhere once a frame is bright:
    output = 0 + 0 * log(BRIGHT - mean(images))."""
    inits = [
        numpy_helper.from_array(np.array(BRIGHT, np.float32), "bright"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1, ROWS, COLS], np.int64), "shape"),
    ]
    nodes = [
        *_mean_nodes(),
        helper.make_node("Sub", ["bright", "mean"], ["margin"]),
        helper.make_node("Log", ["margin"], ["log"]),  # NaN below zero
        helper.make_node("Mul", ["log", "zero"], ["poison"]),
        helper.make_node("Expand", ["poison", "shape"], ["output"]),
    ]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, ROWS, COLS])
    onnx.save(_graph("nan_when_bright", nodes, output, inits), str(path))
    return path


def reshaping_model(path: Path) -> Path:
    """Declares a YOLOv5-style output (metadata output_family) of dynamic size: [1, N, 85]
    zeros on ordinary frames, a [1, 7, 3] tensor no decoder can read once a frame is bright."""

    def branch(name: str, shape: list[int]) -> onnx.GraphProto:
        value = numpy_helper.from_array(np.zeros(shape, np.float32), f"{name}_value")
        node = helper.make_node("Constant", [], [f"{name}_out"], value=value)
        out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, shape)
        return helper.make_graph([node], name, [], [out])

    inits = [numpy_helper.from_array(np.array(BRIGHT, np.float32), "bright")]
    nodes = [
        *_mean_nodes(),
        helper.make_node("Greater", ["mean", "bright"], ["is_bright"]),
        helper.make_node(
            "If",
            ["is_bright"],
            ["output"],
            then_branch=branch("garbage", [1, 7, 3]),
            else_branch=branch("normal", [1, ROWS, COLS]),
        ),
    ]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, "rows", "cols"])
    model = _graph("reshapes_when_bright", nodes, output, inits)
    helper.set_model_props(model, {"output_family": "yolov5"})
    onnx.save(model, str(path))
    return path
