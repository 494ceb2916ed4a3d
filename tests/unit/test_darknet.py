"""The Darknet importer against a NumPy re-implementation of Darknet's forward pass."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest

from appliance.cli import main
from appliance.errors import DarknetImportError
from appliance.models.darknet import build_model, import_darknet

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort

ANCHORS = [(2.0, 3.0), (4.0, 5.0), (6.0, 7.0), (8.0, 9.0)]
CFG = """
[net]
width=16
height=16
channels=3

# 0: 4x16x16
[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

# 1: 4x8x8
[maxpool]
size=2
stride=2

# 2: 4x8x8 (the size-2 stride-1 pool of yolov3-tiny: pads one row/column at the end)
[maxpool]
size=2
stride=1

# 3: 14x8x8 head (2 anchors x (5 + 2 classes))
[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=2,3
anchors=2,3, 4,5, 6,7, 8,9
classes=2
num=4

# 5: back to layer 2
[route]
layers=-3

# 6: 4x16x16
[upsample]
stride=2

# 7: 8x16x16
[route]
layers=-1,0

# 8: 14x16x16 head
[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=2,3, 4,5, 6,7, 8,9
classes=2
num=4
scale_x_y=1.05
"""
NAMES = ["alpha", "beta"]


def _weights(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """A weights file in Darknet 0.2 layout, and the same values by layer for the reference."""
    p = {
        "bn_bias": rng.normal(0, 0.1, 4),
        "bn_scale": rng.uniform(0.5, 1.5, 4),
        "bn_mean": rng.normal(0, 0.1, 4),
        "bn_var": rng.uniform(0.5, 1.5, 4),
        "w0": rng.normal(0, 0.3, (4, 3, 3, 3)),
        "b3": rng.normal(0, 0.1, 14),
        "w3": rng.normal(0, 0.3, (14, 4, 1, 1)),
        "b8": rng.normal(0, 0.1, 14),
        "w8": rng.normal(0, 0.3, (14, 8, 1, 1)),
    }
    p = {k: v.astype(np.float32) for k, v in p.items()}
    order = ["bn_bias", "bn_scale", "bn_mean", "bn_var", "w0", "b3", "w3", "b8", "w8"]
    header = struct.pack("<iiiq", 0, 2, 0, 12345)
    return header + b"".join(p[k].tobytes() for k in order), p


def _conv(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    c_out, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    h, wd = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    out = np.zeros((c_out, h, wd), np.float64)
    for i in range(k):
        for j in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], xp[:, i : i + h, j : j + wd])
    return out


def _maxpool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    pad = size - 1  # Darknet: padding defaults to size-1, offset -padding/2
    xp = np.pad(
        x, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)), constant_values=-np.inf
    )
    h = (x.shape[1] + pad - size) // stride + 1
    w = (x.shape[2] + pad - size) // stride + 1
    out = np.full((x.shape[0], h, w), -np.inf)
    for i in range(size):
        for j in range(size):
            out = np.maximum(out, xp[:, i : i + h * stride : stride, j : j + w * stride : stride])
    return out


def _yolo(x: np.ndarray, mask: list[int], scale: float, net: int) -> np.ndarray:
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, w = x.shape[1:]
    x = x.reshape(len(mask), 7, h, w)
    rows = []
    for a, anchor in enumerate(mask):
        for gy in range(h):
            for gx in range(w):
                t = x[a, :, gy, gx]
                cx = (sig(t[0]) * scale - (scale - 1) / 2 + gx) * net / w
                cy = (sig(t[1]) * scale - (scale - 1) / 2 + gy) * net / h
                bw, bh = np.exp(t[2]) * ANCHORS[anchor][0], np.exp(t[3]) * ANCHORS[anchor][1]
                rows.append([cx, cy, bw, bh, *sig(t[4:])])
    return np.array(rows)


def _reference(image: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """Darknet's forward pass for CFG, written out longhand."""
    x0 = _conv(image, p["w0"].astype(np.float64), 1)
    norm = (x0 - p["bn_mean"][:, None, None]) / (np.sqrt(p["bn_var"])[:, None, None] + 1e-6)
    x0 = norm * p["bn_scale"][:, None, None] + p["bn_bias"][:, None, None]
    x0 = np.where(x0 > 0, x0, 0.1 * x0)
    x2 = _maxpool(_maxpool(x0, 2, 2), 2, 1)
    head1 = _conv(x2, p["w3"], 0) + p["b3"][:, None, None]
    up = x2.repeat(2, axis=1).repeat(2, axis=2)
    head2 = _conv(np.concatenate([up, x0]), p["w8"], 0) + p["b8"][:, None, None]
    return np.concatenate([_yolo(head1, [2, 3], 1.0, 16), _yolo(head2, [0, 1], 1.05, 16)])


@pytest.mark.parametrize("fp16", [False, True])
def test_import_matches_darknet_forward_pass(fp16: bool) -> None:
    """Conv+BN, both maxpool paddings, route, upsample and two yolo heads give Darknet's numbers."""
    rng = np.random.default_rng(7)
    weights, params = _weights(rng)
    model = build_model(CFG, weights, NAMES, fp16=fp16)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = rng.uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
    (output,) = session.run(None, {"images": images})
    assert output.shape == (2, 2 * 8 * 8 + 2 * 16 * 16, 7)
    for index in range(2):
        if fp16:  # fp16 storage rounds weights: compare against weights rounded the same way
            rounded = {k: v.astype(np.float16).astype(np.float32) for k, v in params.items()}
            expected = _reference(images[index].astype(np.float64), rounded)
            np.testing.assert_allclose(output[index], expected, rtol=2e-2, atol=2e-2)
        else:
            expected = _reference(images[index].astype(np.float64), params)
            np.testing.assert_allclose(output[index], expected, rtol=1e-4, atol=1e-4)


def test_model_carries_labels_and_family_metadata() -> None:
    """Labels travel inside the model in the Ultralytics `names` format."""
    weights, _ = _weights(np.random.default_rng(1))
    model = build_model(CFG, weights, NAMES, fp16=False)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["names"] == "{0: 'alpha', 1: 'beta'}"
    assert meta["output_family"] == "yolov5"
    assert meta["imgsz"] == "[16, 16]"
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 16, 16]


def test_cli_writes_the_onnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`appliance models import-darknet CFG WEIGHTS NAMES -o OUT` writes a valid model."""
    weights, _ = _weights(np.random.default_rng(2))
    (tmp_path / "net.cfg").write_text(CFG)
    (tmp_path / "net.weights").write_bytes(weights)
    (tmp_path / "net.names").write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out" / "net.onnx"
    argv = [
        "models",
        "import-darknet",
        *(str(tmp_path / f"net.{s}") for s in ("cfg", "weights", "names")),
    ]
    assert main([*argv, "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert "output0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda cfg, w: (cfg, w[:-40]), "ends early"),
        (lambda cfg, w: (cfg, w + b"\0" * 8), "does not use"),
        (lambda cfg, w: (cfg.replace("[upsample]", "[crnn]"), w), "not supported"),
        (lambda cfg, w: (cfg.replace("activation=leaky", "activation=gelu2"), w), "activation"),
        (lambda cfg, w: (cfg.replace("layers=-1,0", "layers=-1,40"), w), "does not exist"),
        (lambda cfg, w: (cfg.replace("classes=2", "classes=3", 1), w), "classes"),
        (lambda cfg, w: (cfg.replace("[net]", "[convolutional]", 1), w), "[net]"),
        (lambda cfg, w: (cfg, w[:10]), "too short"),
    ],
)
def test_broken_inputs_give_clear_errors(change, message: str) -> None:
    """Mismatched cfg/weights/names are refused with a message saying what is wrong."""
    weights, _ = _weights(np.random.default_rng(3))
    cfg, weights = change(CFG, weights)
    with pytest.raises(DarknetImportError, match=message.replace("[", r"\[")):
        build_model(cfg, weights, NAMES, fp16=False)


def test_import_writes_atomically(tmp_path: Path) -> None:
    """A failed import leaves no output file behind, not even a partial one."""
    weights, _ = _weights(np.random.default_rng(4))
    (tmp_path / "c.cfg").write_text(CFG)
    (tmp_path / "w.weights").write_bytes(weights[:-4])
    (tmp_path / "n.names").write_text("alpha\nbeta\n")
    with pytest.raises(DarknetImportError):
        import_darknet(
            tmp_path / "c.cfg", tmp_path / "w.weights", tmp_path / "n.names", tmp_path / "o.onnx"
        )
    assert not list(tmp_path.glob("o.onnx*"))
