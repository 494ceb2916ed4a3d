"""Darknet → ONNX importer for YOLOv3/v4(-tiny) style networks.

The graph ends in the decoded YOLOv3/v5 output family: `[batch, N, 5 + classes]` with
(cx, cy, w, h) in network-input pixels, objectness and per-class scores, so the same decoder
serves it and Ultralytics YOLOv5 exports. Batch norm is folded into the convolutions and
only TensorRT-friendly operators are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from appliance import __version__
from appliance.errors import DarknetImportError
from appliance.models.darknet_cfg import Section, WeightsReader, parse_cfg, read_names

OPSET = 13
INPUT_NAME = "images"
OUTPUT_NAME = "output0"


@dataclass(frozen=True)
class Tensor:
    """A layer's output as the builder tracks it: ONNX name and NCHW geometry."""

    name: str
    channels: int
    height: int
    width: int


class _GraphBuilder:
    def __init__(self, weights: WeightsReader, fp16: bool) -> None:
        self.weights = weights
        self.fp16 = fp16
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._counter = 0

    def name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, prefix: str, value: np.ndarray) -> str:
        """A learned tensor; stored as fp16 when asked, cast back so the graph stays fp32."""
        if not self.fp16:
            return self.const(prefix, value.astype(np.float32))
        stored = self.const(prefix, value.astype(np.float16))
        return self.node("Cast", [stored], to=TensorProto.FLOAT)

    # --- layers -----------------------------------------------------------------------------

    def convolutional(self, s: Section, x: Tensor) -> Tensor:
        filters, size = s.get_int("filters"), s.get_int("size")
        stride, groups = s.get_int("stride", 1), s.get_int("groups", 1)
        pad = s.get_int("padding", size // 2 if s.get_int("pad", 0) else 0)
        if x.channels % groups:
            raise DarknetImportError(f"line {s.line}: {x.channels} channels, {groups} groups")
        biases = self.weights.take(filters)
        kernel_count = filters * (x.channels // groups) * size * size
        if s.get_int("batch_normalize", 0):
            scales, mean, var = (self.weights.take(filters) for _ in range(3))
            kernel = self.weights.take(kernel_count).reshape(filters, -1, size, size)
            factor = scales / (np.sqrt(var) + 1e-6)  # Darknet's own normalisation formula
            kernel = kernel * factor[:, None, None, None]
            biases = biases - mean * factor
        else:
            kernel = self.weights.take(kernel_count).reshape(filters, -1, size, size)
        out = self.node(
            "Conv",
            [x.name, self.weight("conv_w", kernel), self.weight("conv_b", biases)],
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
            group=groups,
        )
        out = self.activation(s.get_str("activation", "logistic"), out, s.line)
        height = (x.height + 2 * pad - size) // stride + 1
        width = (x.width + 2 * pad - size) // stride + 1
        return Tensor(out, filters, height, width)

    def activation(self, kind: str, x: str, line: int) -> str:
        if kind == "linear":
            return x
        if kind == "leaky":
            return self.node("LeakyRelu", [x], alpha=0.1)
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "logistic":
            return self.node("Sigmoid", [x])
        if kind == "mish":
            return self.node("Mul", [x, self.node("Tanh", [self.node("Softplus", [x])])])
        if kind == "swish":
            return self.node("Mul", [x, self.node("Sigmoid", [x])])
        raise DarknetImportError(f"line {line}: activation '{kind}' is not supported")

    def maxpool(self, s: Section, x: Tensor) -> Tensor:
        stride = s.get_int("stride", 1)
        size = s.get_int("size", stride)
        padding = s.get_int("padding", size - 1)
        # Darknet pads padding//2 before and the rest after, with -inf: MaxPool's own padding.
        begin, end = padding // 2, padding - padding // 2
        out = self.node(
            "MaxPool",
            [x.name],
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[begin, begin, end, end],
        )
        height = (x.height + padding - size) // stride + 1
        width = (x.width + padding - size) // stride + 1
        return Tensor(out, x.channels, height, width)

    def upsample(self, s: Section, x: Tensor) -> Tensor:
        stride = s.get_int("stride", 2)
        scales = self.const("scales", np.array([1, 1, stride, stride], dtype=np.float32))
        out = self.node(
            "Resize",
            [x.name, "", scales],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        return Tensor(out, x.channels, x.height * stride, x.width * stride)

    def route(self, s: Section, sources: list[Tensor]) -> Tensor:
        groups, group_id = s.get_int("groups", 1), s.get_int("group_id", 0)
        if groups > 1:
            if len(sources) != 1:
                raise DarknetImportError(f"line {s.line}: grouped route takes one layer")
            src = sources[0]
            part = src.channels // groups
            starts = self.const("starts", np.array([group_id * part], dtype=np.int64))
            ends = self.const("ends", np.array([(group_id + 1) * part], dtype=np.int64))
            axes = self.const("axes", np.array([1], dtype=np.int64))
            out = self.node("Slice", [src.name, starts, ends, axes])
            return Tensor(out, part, src.height, src.width)
        if len(sources) == 1:
            return sources[0]
        if len({(t.height, t.width) for t in sources}) != 1:
            raise DarknetImportError(f"line {s.line}: routed layers differ in size")
        out = self.node("Concat", [t.name for t in sources], axis=1)
        return Tensor(out, sum(t.channels for t in sources), sources[0].height, sources[0].width)

    def shortcut(self, s: Section, x: Tensor, other: Tensor) -> Tensor:
        if (x.channels, x.height, x.width) != (other.channels, other.height, other.width):
            raise DarknetImportError(f"line {s.line}: shortcut between tensors of other shapes")
        out = self.node("Add", [x.name, other.name])
        out = self.activation(s.get_str("activation", "linear"), out, s.line)
        return Tensor(out, x.channels, x.height, x.width)

    def yolo(self, s: Section, x: Tensor, input_hw: tuple[int, int], classes: int) -> Tensor:
        """Decode one YOLO head to [batch, anchors*H*W, 5+classes] in input pixels; the returned
        Tensor's height holds the row count, its channels the row width."""
        anchors = np.array(s.get_ints("anchors"), dtype=np.float32).reshape(-1, 2)
        mask = s.get_ints("mask", list(range(len(anchors))))
        if s.get_int("new_coords", 0):
            raise DarknetImportError(f"line {s.line}: new_coords=1 (scaled-YOLOv4) unsupported")
        if s.get_int("classes") != classes:
            raise DarknetImportError(f"line {s.line}: classes differ from the names file")
        count, depth, h, w = len(mask), 5 + classes, x.height, x.width
        if x.channels != count * depth:
            raise DarknetImportError(f"line {s.line}: head has {x.channels} channels")
        stride_y, stride_x = input_hw[0] / h, input_hw[1] / w
        scale = s.get_float("scale_x_y", 1.0)
        shape = self.const("shape", np.array([-1, count, depth, h, w], dtype=np.int64))
        grid = self.node("Transpose", [self.node("Reshape", [x.name, shape])], perm=[0, 1, 3, 4, 2])
        split = self.const("split", np.array([2, 2, 1 + classes], dtype=np.int64))
        parts = [self.name("xy"), self.name("wh"), self.name("scores")]
        self.nodes.append(helper.make_node("Split", [grid, split], parts, axis=-1))
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        cells = np.stack([xs, ys], axis=-1)[None, None] - (scale - 1) / 2
        stride = np.array([stride_x, stride_y], dtype=np.float32)
        gain = self.const("xy_gain", (scale * stride).astype(np.float32))
        offset = self.const("xy_offset", (cells * stride).astype(np.float32))
        xy = self.node("Add", [self.node("Mul", [self.node("Sigmoid", [parts[0]]), gain]), offset])
        sizes = self.const("anchors", anchors[mask].reshape(1, count, 1, 1, 2))
        wh = self.node("Mul", [self.node("Exp", [parts[1]]), sizes])
        scores = self.node("Sigmoid", [parts[2]])
        decoded = self.node("Concat", [xy, wh, scores], axis=-1)
        flat = self.const("shape", np.array([-1, count * h * w, depth], dtype=np.int64))
        return Tensor(self.node("Reshape", [decoded, flat]), depth, count * h * w, 1)


def build_model(cfg_text: str, weights: bytes, names: list[str], *, fp16: bool) -> onnx.ModelProto:
    """Convert a Darknet network (cfg text, weights bytes, class names) to an ONNX model."""
    sections = parse_cfg(cfg_text)
    net = sections[0]
    input_hw = (net.get_int("height"), net.get_int("width"))
    builder = _GraphBuilder(WeightsReader(weights), fp16)
    current = Tensor(INPUT_NAME, net.get_int("channels", 3), *input_hw)
    layers: list[Tensor] = []
    heads: list[Tensor] = []
    for s in sections[1:]:
        if s.type in ("convolutional", "conv"):
            current = builder.convolutional(s, current)
        elif s.type in ("maxpool", "max"):
            current = builder.maxpool(s, current)
        elif s.type == "upsample":
            current = builder.upsample(s, current)
        elif s.type == "route":
            current = builder.route(s, [_layer(layers, i, s) for i in s.get_ints("layers")])
        elif s.type == "shortcut":
            current = builder.shortcut(s, current, _layer(layers, s.get_int("from"), s))
        elif s.type == "yolo":
            heads.append(builder.yolo(s, current, input_hw, len(names)))
        else:
            raise DarknetImportError(f"line {s.line}: section [{s.type}] is not supported")
        layers.append(current)
    if not heads:
        raise DarknetImportError("the cfg has no [yolo] section")
    if builder.weights.remaining:
        raise DarknetImportError(
            f"weights file has {builder.weights.remaining} values the cfg does not use"
        )
    names_out = [head.name for head in heads]
    output = builder.node("Concat", names_out, axis=1) if len(heads) > 1 else names_out[0]
    builder.nodes.append(helper.make_node("Identity", [output], [OUTPUT_NAME], name="output"))
    rows = sum(head.height for head in heads)
    return _finish(builder, input_hw, names, net, rows)


def _layer(layers: list[Tensor], index: int, s: Section) -> Tensor:
    position = len(layers) + index if index < 0 else index
    if not 0 <= position < len(layers):
        raise DarknetImportError(f"line {s.line}: layer {index} does not exist")
    return layers[position]


def _finish(
    builder: _GraphBuilder, input_hw: tuple[int, int], names: list[str], net: Section, rows: int
) -> onnx.ModelProto:
    channels = net.get_int("channels", 3)
    graph = helper.make_graph(
        builder.nodes,
        "darknet",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", channels, *input_hw]
            )
        ],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, TensorProto.FLOAT, ["batch", rows, 5 + len(names)]
            )
        ],
        builder.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edge-appliance darknet importer",
        producer_version=__version__,
    )
    model.ir_version = 8  # readable by ONNX Runtime and TensorRT releases of the last years
    metadata = {
        "names": repr(dict(enumerate(names))),  # the same format Ultralytics exports write
        "imgsz": repr(list(input_hw)),
        "task": "detect",
        "output_family": "yolov5",
        "letterbox_fill": "127",
        "source": "darknet",
    }
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def import_darknet(
    cfg: Path, weights: Path, names: Path, output: Path, *, fp16: bool = False
) -> onnx.ModelProto:
    """Read Darknet files, convert, and write the ONNX model to `output`."""
    model = build_model(
        cfg.read_text(encoding="utf-8"), weights.read_bytes(), read_names(names), fp16=fp16
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".part")
    temporary.write_bytes(model.SerializeToString())
    temporary.replace(output)
    return model
