"""Prometheus families of the cameras' lines and zones, read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.services.scene import LineView, ZoneView

SceneReader = Callable[[], dict[str, tuple[list[LineView], list[ZoneView]]]]


class SceneCollector(Collector):
    def __init__(self, scene: SceneReader) -> None:
        self._scene = scene

    def collect(self) -> Iterator[Metric]:
        crossings = CounterMetricFamily(
            "appliance_line_crossings",
            "Tracked objects that crossed a line since it was made or reset.",
            labels=["camera", "line", "direction", "label"],
        )
        inside = GaugeMetricFamily(
            "appliance_zone_objects",
            "Tracked objects inside a zone now (0 for labels that have been inside).",
            labels=["camera", "zone", "label"],
        )
        for camera, (lines, zones) in self._scene().items():
            for line in lines:
                for direction, tally in line.counts.items():
                    for label, count in tally.items():
                        crossings.add_metric([camera, line.name, direction, label], count)
            for zone in zones:
                for label in sorted({*zone.entered, *zone.occupancy}):
                    inside.add_metric([camera, zone.name, label], zone.occupancy.get(label, 0))
        yield crossings
        yield inside
