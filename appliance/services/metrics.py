"""Prometheus metrics of one app instance, in its own registry (no process-wide singleton).

Per-frame values are observed as they happen (a few microseconds); camera state, rates and
device telemetry are read from the services only when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.domain import CameraState, DetectionResult
from appliance.services.auth_guard import REASONS as AUTH_FAILURE_REASONS
from appliance.services.camera_views import GateView
from appliance.services.cameras import CameraView
from appliance.services.job_state import Job, JobState
from appliance.services.telemetry import Sample

# Frame stages and inferences live between ~1 ms and a few seconds.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.035,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1,
    2.5,
    5,
)


# Engine builds take from under a second (ONNX Runtime) to many minutes (TensorRT on a Jetson).
BUILD_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "appliance_http_requests_total",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "appliance_http_request_duration_seconds",
            "Time to the response's first byte, by route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.frame_stage_seconds = Histogram(
            "appliance_frame_stage_seconds",
            "Per-frame stage latency: queue, preprocess, infer, postprocess, encode, delivery.",
            ["camera", "stage"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.swaps = Counter(
            "appliance_model_swaps_total",
            "Model activations (blue/green swaps).",
            ["model"],
            registry=self.registry,
        )
        self.swap_seconds = Histogram(
            "appliance_model_swap_switch_seconds",
            "Time to move cameras and the API onto a new engine.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.inference_seconds = Histogram(
            "appliance_inference_seconds",
            "Model inference time per image of detect requests (cameras: frame stage 'infer').",
            ["model"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

        self.jobs_finished = Counter(
            "appliance_jobs_finished_total",
            "Engine build jobs that finished, by kind, state and whether the cache held the build.",
            ["kind", "state", "cached"],
            registry=self.registry,
        )
        self.build_seconds = Histogram(
            "appliance_job_build_seconds",
            "Time engine builds ran (jobs the cache answered are not counted), by kind.",
            ["kind"],
            registry=self.registry,
            buckets=BUILD_BUCKETS,
        )

        self.auth_failures = Counter(
            "appliance_auth_failures_total",
            "Failed authentications by reason; locked_out: refused unchecked during a lockout.",
            ["reason"],
            registry=self.registry,
        )
        for reason in AUTH_FAILURE_REASONS:  # at 0 from the start: rate() sees the first one
            self.auth_failures.labels(reason)
        self.auth_lockouts = Counter(
            "appliance_auth_lockouts_total",
            "Lockouts started after too many failed authentications from one client.",
            registry=self.registry,
        )

    def observe_auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def observe_auth_lockout(self) -> None:
        self.auth_lockouts.inc()

    def observe_job(self, job: Job) -> None:
        """A job finished: count it; a real build's time goes in the histogram."""
        cached = "true" if job.cached else "false"
        self.jobs_finished.labels(job.kind, job.state.value, cached).inc()
        if job.state is JobState.SUCCEEDED and not job.cached and job.seconds is not None:
            self.build_seconds.labels(job.kind).observe(job.seconds)

    def watch_jobs(self, counts: Callable[[], dict[str, int]]) -> None:
        """Jobs by state, read at scrape time."""
        self.registry.register(_JobCollector(counts))

    def observe_swap(self, model: str, switch_ms: float) -> None:
        self.swaps.labels(model).inc()
        self.swap_seconds.observe(switch_ms / 1000)

    def observe_request(self, method: str, route: str, status: int | str, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    def observe_stages(self, camera: str, stages_ms: dict[str, float]) -> None:
        for stage, ms in stages_ms.items():
            self.frame_stage_seconds.labels(camera, stage.removesuffix("_ms")).observe(ms / 1000)

    def observe_results(self, results: Sequence[DetectionResult]) -> None:
        for result in results:
            self.inference_seconds.labels(result.model.name).observe(result.timings.infer_ms / 1000)

    def watch_cameras(self, cameras: Callable[[], list[CameraView]]) -> None:
        self.registry.register(_CameraCollector(cameras))

    def watch_telemetry(self, snapshot: Callable[[], Sample | None]) -> None:
        self.registry.register(_TelemetryCollector(snapshot))

    def watch(self, collector: Collector) -> None:
        """Add a scrape-time collector (device telemetry, jobs…)."""
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CameraCollector(Collector):
    """Camera gauges read at scrape time: nothing is done per frame for them."""

    def __init__(self, cameras: Callable[[], list[CameraView]]) -> None:
        self._cameras = cameras

    def collect(self) -> Iterator[Metric]:
        fps_in = GaugeMetricFamily(
            "appliance_camera_fps_in", "Frames captured per second.", labels=["camera"]
        )
        fps_out = GaugeMetricFamily(
            "appliance_camera_fps_out",
            "Frames delivered per second (inferred, or carried by the motion gate).",
            labels=["camera"],
        )
        age = GaugeMetricFamily(
            "appliance_camera_frame_age_seconds",
            "Age of the newest captured frame.",
            labels=["camera"],
        )
        state = GaugeMetricFamily(
            "appliance_camera_state",
            "1 for the camera's current state.",
            labels=["camera", "state"],
        )
        reconnects = CounterMetricFamily(
            "appliance_camera_reconnects", "Reconnects since the camera started.", labels=["camera"]
        )
        viewers = GaugeMetricFamily(
            "appliance_camera_viewers", "Open live streams.", labels=["camera"]
        )
        gate = _GateFamilies()
        for view in self._cameras():
            camera, capture = view.config.id, view.capture
            fps_in.add_metric([camera], capture.fps_in)
            fps_out.add_metric([camera], view.fps_out)
            if capture.frame_age_s is not None:
                age.add_metric([camera], capture.frame_age_s)
            for candidate in CameraState:
                state.add_metric([camera, candidate.value], float(candidate is capture.state))
            reconnects.add_metric([camera], capture.reconnects)
            viewers.add_metric([camera], view.viewers)
            if view.gate is not None:
                gate.add(camera, view.gate)
        yield from (fps_in, fps_out, age, state, reconnects, viewers, *gate.families())


class _GateFamilies:
    """The motion gate's work per camera (cameras with the gate off are absent)."""

    def __init__(self) -> None:
        labels = ["camera"]
        self.inferred = CounterMetricFamily(
            "appliance_camera_frames_inferred", "Frames the detector ran on.", labels=labels
        )
        self.carried = CounterMetricFamily(
            "appliance_camera_frames_carried",
            "Frames the motion gate kept from the detector (boxes carried forward).",
            labels=labels,
        )
        self.motion = CounterMetricFamily(
            "appliance_camera_motion_events", "Times motion began.", labels=labels
        )
        self.share = GaugeMetricFamily(
            "appliance_camera_inferred_share",
            "Share of the last minute's frames that were inferred.",
            labels=labels,
        )
        self.per_minute = GaugeMetricFamily(
            "appliance_camera_motion_events_per_minute",
            "Times motion began in the last minute.",
            labels=labels,
        )

    def add(self, camera: str, gate: GateView) -> None:
        self.inferred.add_metric([camera], gate.inferred_total)
        self.carried.add_metric([camera], gate.carried_total)
        self.motion.add_metric([camera], gate.motion_events_total)
        if gate.inferred_share is not None:
            self.share.add_metric([camera], gate.inferred_share)
        self.per_minute.add_metric([camera], gate.motion_events_per_min)

    def families(self) -> tuple[Metric, ...]:
        return (self.inferred, self.carried, self.motion, self.share, self.per_minute)


class _JobCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("appliance_jobs", "Engine build jobs by state.", labels=["state"])
        for state, count in self._counts().items():
            jobs.add_metric([state], count)
        yield jobs


class _TelemetryCollector(Collector):
    """The newest device telemetry sample as gauges, read at scrape time."""

    def __init__(self, snapshot: Callable[[], Sample | None]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        sample = self._snapshot()
        if sample is None:
            return
        cpu = GaugeMetricFamily("appliance_cpu_percent", "CPU load per core.", labels=["core"])
        for core, percent in enumerate(sample.cpu_percent):
            if percent is not None:
                cpu.add_metric([str(core)], percent)
        yield cpu
        yield from _plain(
            ("appliance_memory_used_bytes", "RAM applications hold.", sample.memory_used_mb, 2**20),
            ("appliance_memory_total_bytes", "RAM.", sample.memory_total_mb, 2**20),
            ("appliance_swap_used_bytes", "Swap in use.", sample.swap_used_mb, 2**20),
            ("appliance_power_watts", "Board power draw.", sample.power_total_w, 1),
            ("appliance_fan_percent", "Fan speed.", sample.fan_percent, 1),
        )
        temps = GaugeMetricFamily(
            "appliance_temperature_celsius", "Temperatures.", labels=["sensor"]
        )
        for sensor, celsius in sample.temperatures.items():
            temps.add_metric([sensor], celsius)
        yield temps
        rails = GaugeMetricFamily("appliance_power_rail_watts", "Power per rail.", labels=["rail"])
        for rail, watts in sample.power_rails_w.items():
            rails.add_metric([rail], watts)
        yield rails
        yield from _gpu_families(sample)


def _plain(*rows: tuple[str, str, float | None, float]) -> Iterator[Metric]:
    for name, text, value, scale in rows:
        if value is not None:
            yield GaugeMetricFamily(name, text, value=value * scale)


def _gpu_families(sample: Sample) -> Iterator[Metric]:
    fields = {
        "load_percent": ("appliance_gpu_load_percent", "GPU load.", 1),
        "memory_used_mb": ("appliance_gpu_memory_used_bytes", "GPU memory in use.", 2**20),
        "temperature_c": ("appliance_gpu_temperature_celsius", "GPU temperature.", 1),
        "power_w": ("appliance_gpu_power_watts", "GPU power draw.", 1),
        "frequency_mhz": ("appliance_gpu_frequency_hertz", "GPU clock.", 1e6),
    }
    for attribute, (name, text, scale) in fields.items():
        family = GaugeMetricFamily(name, text, labels=["gpu", "name"])
        for index, gpu in enumerate(sample.gpus):
            value = getattr(gpu, attribute)
            if value is not None:
                family.add_metric([str(index), gpu.name], value * scale)
        yield family
