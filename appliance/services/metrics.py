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
from appliance.services.cameras import CameraView

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
        self.inference_seconds = Histogram(
            "appliance_inference_seconds",
            "Model inference time per image of detect requests (cameras: frame stage 'infer').",
            ["model"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

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
            "appliance_camera_fps_out", "Frames inferred per second.", labels=["camera"]
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
        yield from (fps_in, fps_out, age, state, reconnects, viewers)
