"""`appliance doctor`: what this machine offers the appliance, and what each feature lacks.

Every probe is guarded: a broken driver or library becomes a line in the report, never a
traceback. Heavy libraries (ONNX Runtime, OpenCV, TensorRT) are imported here, lazily.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance import __version__

JTOP_SOCKET = Path("/run/jtop.sock")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


@dataclass(frozen=True)
class Probe:
    """One fact about the machine: found or not, in words, plus details for --json."""

    found: bool
    detail: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Feature:
    """Something the appliance can do here, or what it would need."""

    name: str
    available: bool
    missing: list[str]


def _import(name: str) -> Any:
    return importlib.import_module(name)


def _text(value: str | bytes) -> str:
    """NVML answers bytes in older bindings, str in newer ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def probe_nvml() -> Probe:
    nvml = _import("pynvml")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:  # NVMLError_LibraryNotFound without a driver
        return Probe(False, f"NVML unavailable: {exc}")
    try:
        names = [
            _text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i)))
            for i in range(nvml.nvmlDeviceGetCount())
        ]
        driver = _text(nvml.nvmlSystemGetDriverVersion())
    finally:
        nvml.nvmlShutdown()
    detail = ", ".join(names) + f" (driver {driver})" if names else "driver loaded, no GPU"
    return Probe(bool(names), detail, {"gpus": names, "driver": driver})


def probe_nvidia_devices() -> Probe:
    nodes = sorted(glob.glob("/dev/nvidia*"))
    gpus = [n for n in nodes if re.fullmatch(r"/dev/nvidia\d+", n)]
    if gpus and "/dev/nvidia-uvm" not in nodes:
        # CUDA loads nvidia-uvm through the setuid nvidia-modprobe, which the service's
        # NoNewPrivileges= forbids: the module must be loaded at boot.
        detail = "no /dev/nvidia-uvm: CUDA will fail under the service (modprobe nvidia-uvm)"
        return Probe(False, detail, {"nodes": nodes})
    return Probe(bool(gpus), " ".join(nodes) or "none", {"nodes": nodes})


def probe_jetson() -> Probe:
    if not TEGRA_RELEASE.exists():
        return Probe(False, f"not a Jetson (no {TEGRA_RELEASE})")
    first = TEGRA_RELEASE.read_text(errors="replace").splitlines()[0]
    match = re.search(r"R(\d+) \(release\), REVISION: ([\d.]+)", first)
    release = f"R{match[1]}.{match[2]}" if match else first.strip("# ")
    model = Path("/proc/device-tree/model")
    board = model.read_text(errors="replace").strip("\0\n ") if model.exists() else "Jetson"
    return Probe(True, f"{board}, L4T {release}", {"l4t": release})


def probe_tensorrt() -> Probe:
    trt = _import("tensorrt")
    return Probe(True, f"tensorrt {trt.__version__}", {"version": trt.__version__})


def probe_pycuda() -> Probe:
    pycuda = _import("pycuda")
    version = getattr(pycuda, "VERSION_TEXT", "?")
    driver = _import("pycuda.driver")
    try:
        driver.init()
        count = driver.Device.count()
    except driver.Error as exc:  # no GPU or no driver: pycuda is there, CUDA is not
        return Probe(False, f"pycuda {version}, CUDA unavailable: {exc}")
    return Probe(count > 0, f"pycuda {version}, {count} CUDA device(s)")


def probe_onnxruntime() -> Probe:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before the import, as the app does
    ort = _import("onnxruntime")
    providers = list(ort.get_available_providers())
    detail = f"onnxruntime {ort.__version__}: {', '.join(providers)}"
    return Probe(True, detail, {"providers": providers})


def probe_openvino() -> Probe:
    from appliance.engines.openvino import openvino_version

    core = _import("openvino").Core()
    devices = list(core.available_devices)
    shown = ", ".join(f"{d} ({core.get_property(d, 'FULL_DEVICE_NAME')})" for d in devices)
    version = openvino_version()
    return Probe(bool(devices), f"openvino {version}: {shown}", {"devices": devices})


def probe_nncf() -> Probe:
    from appliance.models.int8 import nncf_version  # pip metadata: NNCF is not imported

    version = nncf_version()
    if version is None:
        return Probe(False, "not installed (pip extra: int8)")
    return Probe(True, f"nncf {version}", {"version": version})


def probe_engine_auto() -> Probe:
    from appliance.engines.platform import probe_platform
    from appliance.models.engine_select import auto_choice

    backend, why = auto_choice(probe_platform())
    return Probe(True, f"{backend}: {why}", {"backend": backend})


def probe_opencv() -> Probe:
    cv2 = _import("cv2")
    build = cv2.getBuildInformation()
    backends = {}
    for key, label in (("GStreamer", "gstreamer"), ("FFMPEG", "ffmpeg"), ("v4l/v4l2", "v4l2")):
        match = re.search(rf"^\s*{re.escape(key)}:\s*(\S+)", build, re.MULTILINE)
        backends[label] = bool(match and match[1] == "YES")
    shown = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in backends.items())
    info = {"version": cv2.__version__, "path": str(cv2.__file__), **backends}
    return Probe(True, f"{cv2.__version__} ({shown}) from {cv2.__file__}", info)


def probe_cameras() -> Probe:
    nodes = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    usable = [n for n in nodes if os.access(n, os.R_OK | os.W_OK)]
    by_id = Path("/dev/v4l/by-id")
    names = {p.name: str(p.resolve()) for p in sorted(by_id.iterdir())} if by_id.is_dir() else {}
    info = {"nodes": nodes, "usable": usable, "by_id": names}
    if not nodes:
        return Probe(False, "none at /dev/video*", info)
    denied = sorted(set(nodes) - set(usable), key=nodes.index)
    detail = " ".join(nodes)
    if denied:
        detail += f"; no permission on {' '.join(denied)} (join the group video)"
    detail += "".join(f"\n{name} -> {target}" for name, target in names.items())
    return Probe(bool(usable), detail, info)


def probe_argus() -> Probe:
    plugins = glob.glob("/usr/lib/*/gstreamer-1.0/libgstnvarguscamerasrc.so")
    detail = plugins[0] if plugins else "no nvarguscamerasrc GStreamer plugin"
    return Probe(bool(plugins), detail)


def probe_jtop() -> Probe:
    parts, found = [], JTOP_SOCKET.exists()
    parts.append(f"{JTOP_SOCKET} {'present' if found else 'absent (jtop.service not running)'}")
    try:
        jtop = _import("jtop")
        parts.append(f"jetson-stats {getattr(jtop, '__version__', '?')}")
    except ImportError:
        found = False
        parts.append("jtop not importable (pip extra: jetson)")
    return Probe(found, "; ".join(parts))


def probe_systemd() -> Probe:
    booted = Path("/run/systemd/system").is_dir()  # systemd is the init system
    systemctl = shutil.which("systemctl")
    notify = os.environ.get("NOTIFY_SOCKET")
    try:
        _import("systemd")
        python_lib = "systemd-python installed"
    except ImportError:
        python_lib = "no systemd-python (not needed: sd_notify is spoken directly)"
    parts = [
        "systemd is init" if booted else "systemd is not the init system here",
        f"systemctl at {systemctl}" if systemctl else "no systemctl",
        f"NOTIFY_SOCKET={notify}" if notify else "not started by systemd",
        python_lib,
    ]
    info = {"booted": booted, "systemctl": systemctl, "notify_socket": notify}
    return Probe(booted and bool(systemctl), "; ".join(parts), info)


PROBES: dict[str, tuple[str, Callable[[], Probe]]] = {
    "nvml": ("GPU (NVML)", probe_nvml),
    "nvidia_devices": ("NVIDIA devices", probe_nvidia_devices),
    "jetson": ("Jetson (L4T)", probe_jetson),
    "tensorrt": ("TensorRT", probe_tensorrt),
    "pycuda": ("pycuda", probe_pycuda),
    "onnxruntime": ("ONNX Runtime", probe_onnxruntime),
    "openvino": ("OpenVINO", probe_openvino),
    "nncf": ("NNCF (INT8 builds)", probe_nncf),
    "engine_auto": ("Engine auto picks", probe_engine_auto),
    "opencv": ("OpenCV", probe_opencv),
    "cameras": ("Cameras (V4L2)", probe_cameras),
    "argus": ("CSI (nvarguscamerasrc)", probe_argus),
    "jtop": ("jtop", probe_jtop),
    "systemd": ("systemd", probe_systemd),
}


def run_probe(probe: Callable[[], Probe]) -> Probe:
    """A probe that fails in any way is reported as not found, with the reason."""
    try:
        return probe()
    except ImportError as exc:
        return Probe(False, f"not installed ({exc})")
    except Exception as exc:
        return Probe(False, f"probe failed: {type(exc).__name__}: {exc}")


def assess(probes: dict[str, Probe]) -> dict[str, Feature]:
    """Which features this machine supports, from the probes."""
    p = probes
    providers = set(p["onnxruntime"].info.get("providers", []))
    opencv = p["opencv"].info
    if p["nvml"].found and not p["jetson"].found:  # a discrete GPU: its device nodes too
        gpu = (p["nvidia_devices"].found, p["nvidia_devices"].detail)
    else:
        gpu = (p["jetson"].found, "an NVIDIA GPU with its driver (none found)")
    needs: dict[str, tuple[str, list[tuple[bool, str]]]] = {
        "cpu_inference": (
            "CPU inference (ONNX Runtime)",
            [("CPUExecutionProvider" in providers, "onnxruntime: " + p["onnxruntime"].detail)],
        ),
        "gpu_inference": (
            "GPU inference (ONNX Runtime CUDA/TensorRT)",
            [
                gpu,
                (
                    bool({"CUDAExecutionProvider", "TensorrtExecutionProvider"} & providers),
                    "onnxruntime-gpu (its CUDA or TensorRT execution provider)",
                ),
            ],
        ),
        "openvino_inference": (
            "OpenVINO inference (CPU, Intel GPU)",
            [(p["openvino"].found, "openvino (a dependency on x86_64, pip extra elsewhere)")],
        ),
        "int8_builds": (
            "INT8 builds calibrated on your cameras",
            [
                (p["openvino"].found, "openvino"),
                (p["nncf"].found, "nncf (pip extra: int8)"),
            ],
        ),
        "tensorrt_engines": (
            "Native TensorRT engines",
            [
                gpu,
                (p["tensorrt"].found, "TensorRT's Python bindings (JetPack, NVIDIA's index)"),
                (p["pycuda"].found, "pycuda with a CUDA device (pip extra: tensorrt)"),
            ],
        ),
        "usb_cameras": (
            "USB cameras (V4L2)",
            [
                (opencv.get("v4l2", False), "OpenCV with V4L2"),
                (p["cameras"].found, "a usable camera: " + p["cameras"].detail.split("\n")[0]),
            ],
        ),
        "csi_cameras": (
            "CSI cameras (GStreamer, Argus)",
            [
                (p["jetson"].found, "a Jetson"),
                (
                    opencv.get("gstreamer", False),
                    "OpenCV with GStreamer (the system's, no pip one)",
                ),
                (p["argus"].found, "the nvarguscamerasrc GStreamer plugin"),
            ],
        ),
        "rtsp": (
            "RTSP cameras",
            [(opencv.get("ffmpeg") or opencv.get("gstreamer"), "OpenCV with FFmpeg or GStreamer")],
        ),
        "jetson_telemetry": (
            "Jetson telemetry (jtop)",
            [
                (p["jetson"].found, "a Jetson"),
                (p["jtop"].found, "jetson-stats: " + p["jtop"].detail),
            ],
        ),
        "systemd": (
            "systemd supervision",
            [(p["systemd"].found, "systemd as the init system, with systemctl")],
        ),
    }
    features = {}
    for key, (name, requirements) in needs.items():
        missing = [what for ok, what in requirements if not ok]
        features[key] = Feature(name, not missing, missing)
    return features


def report() -> dict[str, Any]:
    probes = {key: run_probe(probe) for key, (_, probe) in PROBES.items()}
    return {
        "appliance": __version__,
        "probes": {key: {"name": PROBES[key][0], **asdict(p)} for key, p in probes.items()},
        "features": {key: asdict(feature) for key, feature in assess(probes).items()},
    }


def render(data: dict[str, Any]) -> str:
    """The report as two aligned tables: what was found, then what works."""
    lines = [f"appliance {data['appliance']} doctor", "", "Machine"]
    for probe in data["probes"].values():
        first, *rest = probe["detail"].split("\n")
        lines.append(f"  {probe['name']:<24} {'yes' if probe['found'] else 'no':<4} {first}")
        lines += [f"  {'':<29} {more}" for more in rest]
    lines += ["", "Features"]
    for feature in data["features"].values():
        ok = "yes" if feature["available"] else "no"
        needs = [f"needs {what}" for what in feature["missing"]] or [""]
        lines.append(f"  {feature['name']:<44} {ok:<4} {needs[0]}".rstrip())
        lines += [f"  {'':<49} {more}" for more in needs[1:]]
    return "\n".join(lines)


def main(*, as_json: bool = False) -> int:
    data = report()
    print(json.dumps(data, indent=2) if as_json else render(data))
    return 0
