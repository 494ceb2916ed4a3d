"""What this machine offers the engines: the TensorRT version, the GPU, ONNX Runtime's
providers. Engine caches are keyed on these, and `engine: auto` chooses by them.

Nothing heavy is imported to answer: TensorRT is found with `find_spec` and its version read
from pip metadata (imported only where JetPack's apt install carries none), the GPU is read
through NVML, or pycuda's driver API on a Jetson (no NVML there), without a CUDA context.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from loguru import logger

from appliance.engines.openvino import openvino_version

CPU = "cpu"


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "8.7" on an Orin, "9.0" on an H100

    @property
    def tag(self) -> str:
        """How the GPU appears in cache keys: an engine runs only on the GPU it was built for."""
        return f"{self.name} sm{self.compute_capability.replace('.', '')}"


@dataclass(frozen=True)
class Platform:
    tensorrt: str | None  # the TensorRT version where its Python bindings are installed
    gpu: Gpu | None
    onnxruntime: str
    providers: tuple[str, ...]  # ONNX Runtime's available execution providers
    openvino: str | None = None  # the OpenVINO version where it is installed
    machine: str = field(default_factory=lambda: platform.machine() or "unknown")

    @property
    def can_run_tensorrt(self) -> bool:
        return self.tensorrt is not None and self.gpu is not None

    @property
    def cpu_tag(self) -> str:
        return f"{CPU} {self.machine}"


@functools.cache
def probe_platform() -> Platform:
    """This machine, probed once per process (drivers and libraries do not change under it)."""
    found = Platform(
        tensorrt=tensorrt_version(),
        gpu=_gpu_from_nvml() or _gpu_from_pycuda(),
        onnxruntime=_onnxruntime_version(),
        providers=tuple(_onnxruntime_providers()),
        openvino=openvino_version(),
    )
    logger.info(
        "engines: TensorRT {}, GPU {}, ONNX Runtime {} with {}, OpenVINO {}",
        found.tensorrt or "not installed",
        found.gpu.tag if found.gpu else "none",
        found.onnxruntime,
        ", ".join(p.removesuffix("ExecutionProvider") for p in found.providers),
        found.openvino or "not installed",
    )
    return found


def tensorrt_version() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return None
    for name in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:  # JetPack's apt bindings carry no pip metadata
        import tensorrt
    except Exception as exc:  # a broken install is no TensorRT
        logger.warning("tensorrt is installed but does not import: {}", exc)
        return None
    return str(getattr(tensorrt, "__version__", "")) or None


def _gpu_from_nvml() -> Gpu | None:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound without a driver; Jetsons have no NVML
        return None
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return None
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        return Gpu(_text(pynvml.nvmlDeviceGetName(handle)), f"{major}.{minor}")
    except pynvml.NVMLError:
        return None
    finally:
        pynvml.nvmlShutdown()


def _gpu_from_pycuda() -> Gpu | None:
    if importlib.util.find_spec("pycuda") is None:
        return None
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() < 1:
            return None
        device = cuda.Device(0)
        major, minor = device.compute_capability()
        return Gpu(str(device.name()), f"{major}.{minor}")
    except Exception as exc:  # pycuda.driver.Error: no device or no driver
        logger.debug("no CUDA device through pycuda: {}", exc)
        return None


def _onnxruntime_module() -> Any:
    from appliance.engines.onnxruntime import import_onnxruntime

    return import_onnxruntime()


def _onnxruntime_version() -> str:
    return str(_onnxruntime_module().__version__)


def _onnxruntime_providers() -> list[str]:
    return list(_onnxruntime_module().get_available_providers())


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
