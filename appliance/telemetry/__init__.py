"""Device telemetry: jetson-stats, NVML and psutil readings merged into one sample a second."""

from appliance.telemetry.base import SourceUnavailableError, TelemetrySource
from appliance.telemetry.model import GpuSample, Reading, Sample, merge
from appliance.telemetry.warnings import HealthWarning, derive_warnings

__all__ = [
    "GpuSample",
    "HealthWarning",
    "Reading",
    "Sample",
    "SourceUnavailableError",
    "TelemetrySource",
    "derive_warnings",
    "merge",
]
