"""Versions of what runs inference here: Python, ONNX Runtime, TensorRT, CUDA, JetPack/L4T."""

from __future__ import annotations

import importlib.util
import json
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from loguru import logger

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
CUDA_HOME = Path("/usr/local/cuda")
# L4T release → JetPack (NVIDIA's JetPack archive; the same table as jetson-stats'
# jtop/core/jetson_variables.py). The nvidia-jetpack package, where installed, is asked first;
# a release missing here shows its L4T version only.
JETPACK_BY_L4T = {
    "38.4.0": "7.1",
    "38.2.2": "7.0",
    "38.2.1": "7.0",
    "38.2.0": "7.0",
    "36.4.7": "6.2.1",
    "36.4.4": "6.2.1",
    "36.4.3": "6.2",
    "36.4.2": "6.1",
    "36.4.0": "6.1",
    "36.3.0": "6.0",
    "35.6.0": "5.1.4",
    "35.5.0": "5.1.3",
    "35.4.1": "5.1.2",
    "35.3.1": "5.1.1",
    "35.2.1": "5.1",
    "35.1.0": "5.0.2",
    "32.7.6": "4.6.6",
    "32.7.5": "4.6.5",
    "32.7.4": "4.6.4",
    "32.7.3": "4.6.3",
    "32.7.2": "4.6.2",
    "32.7.1": "4.6.1",
    "32.6.1": "4.6",
}
_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


@dataclass(frozen=True, slots=True)
class Versions:
    package: str
    python: str
    onnxruntime: str | None = None
    tensorrt: str | None = None
    cuda: str | None = None  # the toolkit on a Jetson; the driver's CUDA version elsewhere
    nvidia_driver: str | None = None
    l4t: str | None = None
    jetpack: str | None = None


def collect(package_version: str) -> Versions:
    """Slow-ish (reads files, may run dpkg-query once): call it off the event loop."""
    driver, driver_cuda = _nvml_versions()
    l4t = l4t_version()
    return Versions(
        package=package_version,
        python=platform.python_version(),
        onnxruntime=_distribution("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml"),
        tensorrt=_tensorrt(),
        cuda=_cuda_toolkit() or driver_cuda,
        nvidia_driver=driver,
        l4t=l4t,
        jetpack=jetpack_version(l4t),
    )


def l4t_from_release(text: str) -> str | None:
    """`# R36 (release), REVISION: 4.3, GCID: …` → `36.4.3`."""
    match = _RELEASE.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def jetpack_from_l4t(l4t: str) -> str | None:
    parts = [*l4t.split("."), "0", "0"][:3]
    return JETPACK_BY_L4T.get(".".join(parts))


def l4t_version() -> str | None:
    try:
        return l4t_from_release(NV_TEGRA_RELEASE.read_text())
    except OSError:
        pass
    core = _dpkg_version("nvidia-l4t-core")  # e.g. 36.4.3-20250107174145
    return core.split("-")[0] if core else None


def jetpack_version(l4t: str | None) -> str | None:
    if l4t is None:
        return None
    jetpack = _dpkg_version("nvidia-jetpack")  # e.g. 6.2+b77
    return jetpack.split("+")[0].split("-")[0] if jetpack else jetpack_from_l4t(l4t)


def _distribution(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _tensorrt() -> str | None:
    """JetPack installs TensorRT's bindings with apt, without pip metadata: then import it."""
    found = _distribution("tensorrt", "tensorrt-cu13", "tensorrt-cu12")
    if found or importlib.util.find_spec("tensorrt") is None:
        return found
    try:
        import tensorrt  # a guarded import, only when no metadata tells the version
    except Exception as exc:  # a broken install must not hide the other versions
        logger.debug("tensorrt import failed: {}", exc)
        return None
    return str(getattr(tensorrt, "__version__", "")) or None


def _cuda_toolkit() -> str | None:
    try:
        return json.loads((CUDA_HOME / "version.json").read_text())["cuda"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _nvml_versions() -> tuple[str | None, str | None]:
    """(driver, CUDA version the driver supports), or Nones where there is no driver."""
    try:
        import pynvml  # only here: nothing NVIDIA loads at import time

        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound without a driver
        return None, None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        return _text(driver), f"{cuda // 1000}.{cuda % 1000 // 10}"
    except pynvml.NVMLError:
        return None, None
    finally:
        pynvml.nvmlShutdown()


def _dpkg_version(package: str) -> str | None:
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None
    try:
        done = subprocess.run(
            [dpkg, "--showformat=${Version}", "--show", package],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None  # not installed: not a Jetson, or a container without the L4T packages
    return done.stdout.strip() or None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
