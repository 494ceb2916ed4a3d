"""Dialogs that show what the service reported: a model's validation, a swap."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from appliance.services.models import SwapReport


def show_validation(name: str, report: dict[str, Any]) -> None:
    latency = report.get("latency_ms", {})
    frame = report.get("test_frame", {})
    rows = [
        ("Checks passed", ", ".join(report.get("checks", []))),
        ("Input", "×".join(str(v) for v in report.get("input_size", []))),
        ("Output family", report.get("output_family", "–")),
        ("Labels", str(report.get("labels", "–"))),
        ("Dynamic batch", "yes" if report.get("dynamic_batch") else "no"),
        ("Test frame", f"{frame.get('detections', 0)} found: {', '.join(frame.get('labels', []))}"),
        ("Latency", f"p50 {latency.get('p50', '–')} ms, max {latency.get('max', '–')} ms"),
        ("Runs on", f"{report.get('backend', '–')} · {report.get('device', '–')}"),
    ]
    _facts_dialog(f"{name} is valid", rows, "validation-report")


def show_swap(report: SwapReport) -> None:
    where = "every camera and the API default" if report.default else ", ".join(report.cameras)
    rows = [
        ("Now serving", f"{report.model} ({report.version}) on {where or 'no camera'}"),
        ("Load", f"{report.load_ms:.0f} ms"),
        ("Warm-up", f"{report.warmup_ms:.0f} ms"),
        ("Switch", f"{report.switch_ms:.1f} ms"),
        ("Memory", f"{report.rss_before_mb:.0f} → {report.rss_after_mb:.0f} MB"),
        ("Released", ", ".join(report.released) or "nothing"),
    ]
    _facts_dialog(f"Activated {report.model}", rows, "swap-report")


def _facts_dialog(title: str, rows: list[tuple[str, str]], marker: str) -> None:
    with ui.dialog() as dialog, ui.card().classes("min-w-[420px]").mark(marker):
        ui.label(title).classes("text-lg font-medium")
        with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1 text-sm"):
            for key, value in rows:
                ui.label(key).classes("text-gray-500")
                ui.label(value)
        with ui.row().classes("w-full justify-end"):
            ui.button("Close", on_click=dialog.delete).props("flat")
    dialog.open()
