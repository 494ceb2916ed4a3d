"""GStreamer through OpenCV: whether this OpenCV has it, and the pipelines we build for it."""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import cv2

from appliance.sources.base import SourceOptions

NO_GSTREAMER = (
    "this OpenCV has no GStreamer; on Jetson use the system OpenCV "
    "(venv with --system-site-packages)"
)
_APPSINK = "appsink drop=true max-buffers=1 sync=false"
_CSI_DEFAULT = (1280, 720, 30.0)


@functools.lru_cache(maxsize=1)
def gstreamer_available() -> bool:
    """True when OpenCV was built with GStreamer (PyPI wheels are not; Jetson's system one is)."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is not None and match.group(1).upper() == "YES"


def csi_pipeline(sensor_id: int, options: SourceOptions) -> str:
    """An nvarguscamerasrc pipeline (Jetson CSI camera) that hands OpenCV BGR frames."""
    width = options.width or _CSI_DEFAULT[0]
    height = options.height or _CSI_DEFAULT[1]
    rate = Fraction(options.fps or _CSI_DEFAULT[2]).limit_denominator(1001)
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={width},height={height},"
        f"framerate={rate.numerator}/{rate.denominator} ! "
        "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! " + _APPSINK
    )


def with_appsink(pipeline: str) -> str:
    """A user's pipeline, ending in a latest-frame appsink unless it already has an appsink."""
    if re.search(r"\bappsink\b", pipeline):
        return pipeline
    return f"{pipeline} ! videoconvert ! video/x-raw,format=BGR ! {_APPSINK}"
