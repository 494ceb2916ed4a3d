"""Health: CPU per core, memory, GPU, temperatures, power and fan as live charts, the
warnings that explain slow inference (throttling, heat, a low-power mode) and, for admins,
recent failed sign-ins."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from appliance.auth.scopes import Scope
from ui import formatting, session
from ui.components.failed_sign_ins import FailedSignIns
from ui.components.timeseries import TimeSeriesChart, collect
from ui.context import Dashboard
from ui.layout import page_frame

WINDOW_S = 300.0  # the charts show the last five minutes
MAX_POINTS = 300


def health_page(dash: Dashboard) -> None:
    telemetry = dash.services.telemetry
    with page_frame(dash, "Health", "/health"):
        warnings = ui.column().classes("w-full gap-2").mark("warnings")
        summary = ui.row().classes("w-full gap-4")
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            charts = {
                "cpu": TimeSeriesChart("CPU per core", "%", y_max=100),
                "memory": TimeSeriesChart("Memory", "%", y_max=100),
                "gpu": TimeSeriesChart("GPU", "%", y_max=100),
                "temperature": TimeSeriesChart("Temperatures", "°C"),
                "power": TimeSeriesChart("Power", "W"),
                "fan": TimeSeriesChart("Fan", "%", y_max=100),
            }
        admin = dash.services.auth.enabled and session.can(dash, Scope.ADMIN)
        failures = FailedSignIns(dash.services.auth.guard) if admin else None

        def refresh() -> None:
            samples = telemetry.history(WINDOW_S, MAX_POINTS)
            charts["cpu"].show(collect(samples, _cpu))
            charts["memory"].show(collect(samples, _memory))
            charts["gpu"].show(collect(samples, _gpu))
            charts["temperature"].show(collect(samples, lambda s: dict(s.temperatures)))
            charts["power"].show(collect(samples, _power))
            charts["fan"].show(collect(samples, lambda s: {"fan": s.fan_percent}))
            _show_warnings(warnings, telemetry.warnings())
            _show_summary(summary, telemetry.snapshot(), mqtt_text(dash))
            if failures is not None:
                failures.update()

        refresh()
        ui.timer(2.0, refresh)


def _cpu(sample: Any) -> dict[str, float | None]:
    return {f"cpu{i}": value for i, value in enumerate(sample.cpu_percent)}


def _memory(sample: Any) -> dict[str, float | None]:
    return {"RAM": sample.memory_percent, "swap": sample.swap_percent}


def _gpu(sample: Any) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for gpu in sample.gpus:
        values[f"{gpu.name} load"] = gpu.load_percent
        if gpu.memory_used_mb is not None and gpu.memory_total_mb:
            values[f"{gpu.name} memory"] = 100 * gpu.memory_used_mb / gpu.memory_total_mb
    return values


def _power(sample: Any) -> dict[str, float | None]:
    values: dict[str, float | None] = dict(sample.power_rails_w)
    if sample.power_total_w is not None:
        values["total"] = sample.power_total_w
    return values


def _show_warnings(box: ui.column, active: list[Any]) -> None:
    box.clear()
    with box:
        for warning in active:
            card = ui.card().classes("w-full bg-amber-100 text-amber-900 py-2")
            with card, ui.row().classes("items-center gap-2"):
                ui.icon("warning", color="warning")
                ui.label(warning.message).mark("warning")


def mqtt_text(dash: Dashboard) -> str:
    """The MQTT connection in a few words, e.g. "connected" or "error: not authorized"."""
    mqtt = dash.services.mqtt
    if mqtt is None:
        return "off"
    status = mqtt.status()
    return f"{status.state}: {status.last_error}" if status.last_error else status.state


def _show_summary(box: ui.row, sample: Any, mqtt: str) -> None:
    box.clear()
    if sample is None:
        with box:
            ui.label("Waiting for the first sample…").classes("text-gray-500")
        return
    cores = [v for v in sample.cpu_percent if v is not None]
    facts = [
        ("CPU", formatting.percent(sum(cores) / len(cores) if cores else None)),
        ("Memory", formatting.percent(sample.memory_percent)),
        ("Hottest", f"{max(sample.temperatures.values()):.0f} °C" if sample.temperatures else "–"),
        ("Power", f"{sample.power_total_w:.1f} W" if sample.power_total_w is not None else "–"),
        ("Fan", formatting.percent(sample.fan_percent)),
        ("Power mode", sample.power_mode or "–"),
        ("MQTT", mqtt),
    ]
    for gpu in sample.gpus:
        facts.append((gpu.name, formatting.percent(gpu.load_percent)))
    with box:
        for key, value in facts:
            with ui.card().classes("py-2 px-4 gap-0 min-w-[110px]"):
                ui.label(key).classes("text-xs text-gray-500")
                ui.label(value).classes("text-lg font-medium").mark(f"fact-{key.lower()}")
