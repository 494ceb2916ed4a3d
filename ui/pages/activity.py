"""Activity: camera state changes, model swaps, jobs and warnings as they happen (the stored
events of tracked objects have their own page: they would flood this log)."""

from __future__ import annotations

import time
from typing import Any

from nicegui import ui

from appliance.services.events import STORED_EVENTS
from ui import event_format, formatting
from ui.context import Dashboard
from ui.layout import page_frame

SHOWN = 200


def shown_here(message: dict[str, Any]) -> bool:
    return not str(message.get("type", "")).startswith(STORED_EVENTS)


def describe(event: dict[str, Any]) -> str:
    """One line a person can read, e.g. "demo: reconnecting (connection refused)"."""
    data = {k: v for k, v in event.items() if k not in ("type", "at")}
    kind = event.get("type", "")
    if kind == "camera.state":
        reason = f" ({data['reason']})" if data.get("reason") else ""
        return f"{data.get('camera')}: {data.get('state')}{reason}"
    if kind == "model.activated":
        where = "everywhere" if data.get("default") else "on " + ", ".join(data.get("cameras", []))
        return f"{data.get('model')} active {where} (switch {data.get('switch_ms')} ms)"
    if kind == "job" and isinstance(data.get("job"), dict):
        return describe_job(data["job"])
    if kind.startswith(STORED_EVENTS) and isinstance(data.get("event"), dict):
        return event_format.sentence(kind.removeprefix(STORED_EVENTS), data["event"])
    shown = [f"{k}={_plain(v)}" for k, v in data.items() if not isinstance(v, dict)]
    return ", ".join(shown) or kind


def describe_job(job: dict[str, Any]) -> str:
    """e.g. "tensorrt fp16 build of yolov3-tiny: running 40% (building)"."""
    what = f"{job.get('kind')} {job.get('precision')} build of {job.get('model')}"
    state = job.get("state", "")
    if state == "running":
        state += f" {formatting.percent(100 * float(job.get('progress') or 0))}"
    detail = job.get("error") or job.get("message")
    return f"{what}: {state}" + (f" ({detail})" if detail and detail != state else "")


def _plain(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def activity_page(dash: Dashboard) -> None:
    bus = dash.services.events
    with page_frame(dash, "Activity", "/activity"):
        columns = [
            {"name": "time", "label": "Time", "field": "time", "align": "left"},
            {"name": "type", "label": "Kind", "field": "type", "align": "left"},
            {"name": "text", "label": "What happened", "field": "text", "align": "left"},
        ]
        table = ui.table(columns=columns, rows=[], row_key="key", pagination=25)
        table.classes("w-full").props("flat bordered").mark("activity")
        seen = {"count": 0, "last": 0.0}

        def refresh() -> None:
            recent = [m for m in bus.recent() if shown_here(m)]
            if recent and (len(recent), recent[-1]["at"]) == (seen["count"], seen["last"]):
                return
            seen["count"], seen["last"] = len(recent), recent[-1]["at"] if recent else 0.0
            table.rows = [_row(i, e) for i, e in enumerate(reversed(recent[-SHOWN:]))]
            table.update()

        refresh()
        ui.timer(1.0, refresh)


def _row(index: int, event: dict[str, Any]) -> dict[str, str]:
    return {
        "key": f"{event['at']}-{index}",
        "time": time.strftime("%H:%M:%S", time.localtime(event["at"])),
        "type": event.get("type", ""),
        "text": describe(event),
    }
