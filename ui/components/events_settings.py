"""The camera form's Events part: what becomes a stored event, and what is kept of it."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from appliance.config import DEFAULT_EVENT_LABELS, EventsConfig


class EventsSettings:
    """Widgets for a camera's `events` settings, inside a collapsed section."""

    def __init__(self, current: EventsConfig | None) -> None:
        events = current or EventsConfig()
        labels = list(dict.fromkeys([*DEFAULT_EVENT_LABELS, *events.labels]))
        with ui.expansion("Events", icon="video_library").classes("w-full").mark("camera-events"):
            with ui.row().classes("w-full items-center gap-4"):
                self.enabled = ui.switch("Record events", value=events.enabled)
                self.enabled.mark("events-enabled")
                self.clips = ui.switch("Clips", value=events.clips).mark("events-clips")
                self.annotated = ui.switch("Boxes on clips", value=events.annotated_clips)
                self.annotated.mark("events-annotated")
            self.labels = ui.select(
                labels, value=list(events.labels), multiple=True, new_value_mode="add-unique"
            )
            self.labels.props('label="Labels" use-chips').classes("w-full").mark("events-labels")
            with ui.row().classes("w-full gap-3 no-wrap"):
                self.min_score = _number("Min score", events.min_score, 0, 1, 0.05)
                self.pre_s = _number("Before (s)", events.pre_s, 0, 10, 0.5)
                self.post_s = _number("After (s)", events.post_s, 0, 30, 0.5)
                self.retain_days = _number("Keep (days)", events.retain_days, 0.1, 3650, 1)
            ui.label(
                "Tracked objects of these labels become events with a snapshot and a clip; "
                "labels the model lacks are skipped."
            ).classes("text-xs text-gray-500")

    def values(self) -> dict[str, Any]:
        return {
            "enabled": bool(self.enabled.value),
            "labels": list(self.labels.value or []),
            "clips": bool(self.clips.value),
            "annotated_clips": bool(self.annotated.value),
            "min_score": self.min_score.value,
            "pre_s": self.pre_s.value,
            "post_s": self.post_s.value,
            "retain_days": self.retain_days.value,
        }


def _number(label: str, value: float, low: float, high: float, step: float) -> ui.number:
    field = ui.number(label, value=value, min=low, max=high, step=step).classes("flex-1")
    return field.mark(f"events-{label.split()[0].lower()}")
