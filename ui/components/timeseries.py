"""A live line chart over the last minutes (ECharts, drawn by the browser)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import ui

Series = dict[str, list[tuple[float, float | None]]]  # name -> [(unix time, value)]


class TimeSeriesChart:
    """Hidden, with a one-line note instead, while the device reports nothing for it (a
    workstation has no power rails, a VM no temperatures)."""

    def __init__(self, title: str, unit: str, *, y_max: float | None = None) -> None:
        self.unit = unit
        self.card = ui.card().classes("w-full")
        with self.card:
            self.empty = ui.label(f"{title}: not reported on this device").classes(
                "text-sm text-gray-500"
            )
            self.chart = self._chart(title, unit, y_max)

    @staticmethod
    def _chart(title: str, unit: str, y_max: float | None) -> ui.echart:
        return ui.echart(
            {
                "title": {"text": f"{title} ({unit})", "left": 0, "textStyle": {"fontSize": 13}},
                "tooltip": {"trigger": "axis", "valueFormatter": None},
                "legend": {"type": "scroll", "top": 0, "right": 0, "left": 180},
                "grid": {"left": 44, "right": 16, "top": 44, "bottom": 28},
                "xAxis": {"type": "time", "splitNumber": 4, "axisLabel": {"hideOverlap": True}},
                "yAxis": {"type": "value", "min": 0, "max": y_max},
                "animation": False,
                "series": [],
            }
        ).classes("w-full h-56")

    def show(self, series: Series) -> None:
        series = {
            name: points for name, points in series.items() if any(v is not None for _, v in points)
        }
        self.chart.set_visibility(bool(series))
        self.empty.set_visibility(not series)
        self.chart.options["series"] = [
            {
                "name": name,
                "type": "line",
                "showSymbol": False,
                "data": [[round(t * 1000), v] for t, v in points],
            }
            for name, points in series.items()
        ]
        self.chart.update()


def collect(samples: Sequence[Any], pick: Callable[[Any], dict[str, float | None]]) -> Series:
    """Turn telemetry samples into named series; `pick` maps one sample to {name: value}."""
    series: Series = {}
    for sample in samples:
        for name, value in pick(sample).items():
            series.setdefault(name, []).append((sample.timestamp, value))
    return series


def since(seconds: float) -> float:
    return time.time() - seconds
