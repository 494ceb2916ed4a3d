"""One stored event in the Events grid: the object's snapshot, what and where, when and for
how long, its best score and the zones it entered. A click opens it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from ui import event_format

Event = dict[str, Any]


def snapshot_path(event_id: str, *, crop: bool = False) -> str:
    return f"/v1/events/{event_id}/snapshot.jpg" + ("?crop=1" if crop else "")


def clip_path(event_id: str) -> str:
    return f"/v1/events/{event_id}/clip.mp4"


def signature(event: Event) -> tuple[Any, ...]:
    """What a card shows: it is rebuilt only when one of these changes (a rebuilt card signs
    a new URL, and the browser loads its picture again)."""
    return (
        event.get("end_time"),
        round(float(event.get("top_score", 0.0)), 2),
        tuple(event.get("zones", ())),
        event.get("has_snapshot"),
        event.get("has_clip"),
    )


def event_card(
    event: Event, camera_name: str, picture: str | None, on_open: Callable[[str], Any]
) -> ui.card:
    """`picture`: the (signed) URL of the snapshot to show, None while there is none."""
    event_id = event["id"]
    card = ui.card().tight().classes("w-full cursor-pointer hover:shadow-lg overflow-hidden")
    card.props(f'data-event="{event_id}"').mark(f"event-{event_id}")
    card.on("click", lambda: on_open(event_id))
    with card:
        fill_card(event, camera_name, picture)
    return card


def fill_card(event: Event, camera_name: str, picture: str | None) -> None:
    """The card's content (in the current context: the card, after a clear())."""
    with ui.element("div").classes("w-full aspect-video bg-slate-800 relative"):
        if picture is not None:
            # absolute: a tall crop must not stretch the box (cards keep one height)
            image = ui.element("img").classes("absolute inset-0 w-full h-full object-contain")
            image.props.update(loading="lazy", src=picture, alt=event_format.title(event))
        else:
            with ui.column().classes("absolute inset-0 items-center justify-center gap-1"):
                ui.icon("hourglass_empty", color="grey-5", size="md")
                ui.label("snapshot on its way").classes("text-xs text-slate-400")
        if event.get("has_clip"):
            ui.icon("play_circle", color="white", size="sm").classes(
                "absolute bottom-1 right-1 opacity-80"
            ).tooltip("has a clip")
    with ui.card_section().classes("w-full p-2 gap-1"):
        with ui.row().classes("w-full items-center no-wrap gap-2"):
            ui.label(event_format.title(event)).classes("font-medium truncate")
            ui.space()
            ui.badge(event_format.score(float(event.get("top_score", 0.0)))).props(
                "color=primary"
            ).tooltip("best score")
        with ui.row().classes("w-full items-center no-wrap gap-2 text-xs text-gray-500"):
            ui.label(camera_name).classes("truncate")
            ui.space()
            ui.label(event_format.clock(float(event["start_time"])))
        took = event_format.duration(float(event["start_time"]), event.get("end_time"))
        live = event.get("end_time") is None
        ui.label(took).classes("text-xs " + ("text-positive" if live else "text-gray-500"))
        if event.get("zones"):
            with ui.row().classes("gap-1"):
                for zone in event["zones"]:
                    ui.chip(zone, icon="pentagon").props("dense square outline color=amber-9")
