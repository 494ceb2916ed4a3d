"""One event opened from the grid: its clip playing inline (the snapshot as poster), its
details beside it, a download link, and Delete for operators. An event whose clip is still
being written shows its snapshot and is looked up again until the clip is there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from nicegui import ui

from appliance.auth.scopes import Scope
from appliance.errors import NotFoundError
from appliance.services.event_archive import EventArchive, EventNotFoundError
from ui import event_format, session
from ui.components.confirm import confirm
from ui.components.event_card import Event, clip_path, snapshot_path
from ui.context import CLIP_URL_TTL_S, Dashboard
from ui.event_feed import SETTLE_S
from ui.feedback import run_action

POLL_S = 2.0  # while the event is open and its clip is on its way


def clip_state(event: Event, clips_on: bool, now: float | None = None) -> str:
    """ "ready", "writing" (in view, or ended a moment ago), "off" (the camera records no
    clips) or "none" (none came: the encoder was overloaded, or the camera stopped)."""
    if event.get("has_clip"):
        return "ready"
    if not clips_on:
        return "off"
    end = event.get("end_time")
    now = time.time() if now is None else now
    return "writing" if end is None or now - float(end) < SETTLE_S else "none"


CLIP_NOTES = {
    "writing": "The clip is being written: it appears here when the object has gone.",
    "off": "No clip: this camera records snapshots only.",
    "none": "No clip was recorded for this event.",
}


async def open_event(
    dash: Dashboard, holder: ui.element, event_id: str, on_deleted: Callable[[str], Any]
) -> None:
    """Open the event in a dialog inside `holder` (any one open before is closed)."""
    archive = dash.services.archive
    assert archive is not None
    try:
        record = await asyncio.to_thread(archive.get, event_id)
    except EventNotFoundError:
        ui.notify("This event has been deleted", type="warning")
        on_deleted(event_id)
        return
    with holder.clear():
        detail = EventDetail(dash, archive, record.to_api(), on_deleted)
    detail.dialog.open()


class EventDetail:
    def __init__(
        self,
        dash: Dashboard,
        archive: EventArchive,
        event: Event,
        on_deleted: Callable[[str], Any],
    ) -> None:
        self._dash, self._archive, self._on_deleted = dash, archive, on_deleted
        self.event = event
        self._shown: tuple[Any, ...] = ()
        with (
            ui.dialog() as self.dialog,
            ui.card().classes("w-[95vw] gap-3").style("max-width: 1200px").mark("event-detail"),
        ):
            with ui.row().classes("w-full items-center"):
                self._title = ui.label().classes("text-lg font-semibold")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props(
                    'flat round dense aria-label="Close"'
                )
            # the video beside its details; above them on a narrow screen
            with ui.element("div").classes("w-full flex flex-col md:flex-row items-start gap-4"):
                self._media = ui.column().classes("w-full md:flex-1 min-w-0 gap-1")
                self._facts = ui.column().classes("w-full md:w-72 shrink-0 gap-2")
                self._facts.props("data-part=facts")
            self._actions = ui.row().classes("w-full items-center gap-2")
        self._timer = ui.timer(POLL_S, self._poll, active=self._waiting())
        self.dialog.on_value_change(lambda e: None if e.value else self._timer.deactivate())
        self._render()

    # --- showing ---------------------------------------------------------------------------

    def _render(self) -> None:
        event, shown = self.event, self._signature()
        if shown == self._shown:
            return
        media_changed = not self._shown or shown[0] != self._shown[0]
        self._shown = shown
        self._title.set_text(f"{event_format.title(event)} on {self._camera_name()}")
        if media_changed:
            with self._media.clear():
                self._fill_media()
        with self._facts.clear():
            self._fill_facts()
        with self._actions.clear():
            self._fill_actions()

    def _signature(self) -> tuple[Any, ...]:
        event = self.event
        media = (self._clip_state(), event.get("has_snapshot"))
        return media, event.get("end_time"), event.get("top_score"), len(event.get("lines", ()))

    def _fill_media(self) -> None:
        event_id, state = self.event["id"], self._clip_state()
        poster = self._dash.media_url(snapshot_path(event_id)) if self.event["has_snapshot"] else ""
        if state == "ready":
            video = ui.element("video").classes("w-full rounded bg-black aspect-video")
            video.props.update(
                src=self._dash.media_url(clip_path(event_id), CLIP_URL_TTL_S),
                poster=poster,
                controls=True,
                playsinline=True,
                muted=True,  # muted: browsers let it start by itself
                autoplay=True,
                preload="metadata",
            )
            video.mark("event-video")
            return
        if poster:
            picture = ui.element("img").classes("w-full rounded bg-black aspect-video")
            picture.classes("object-contain")
            picture.props.update(src=poster, alt=event_format.title(self.event))
            picture.mark("event-snapshot")
        else:
            with ui.element("div").classes(
                "w-full rounded bg-slate-800 aspect-video flex items-center justify-center"
            ):
                ui.label("No snapshot yet").classes("text-slate-400")
        ui.label(CLIP_NOTES[state]).classes("text-sm text-gray-500").mark("clip-note")

    def _fill_facts(self) -> None:
        event = self.event
        start, end = float(event["start_time"]), event.get("end_time")
        rows = [
            ("Camera", self._camera_name()),
            ("Label", str(event["label"])),
            ("Track", f"#{event['track_id']}"),
            ("Started", event_format.clock(start)),
            ("Ended", "in view now" if end is None else event_format.clock(float(end))),
            ("Duration", event_format.duration(start, end)),
            ("Best score", event_format.score(float(event["top_score"]))),
        ]
        for name, value in rows:
            with _fact(name):
                marker = "fact-" + name.lower().replace(" ", "-")
                ui.label(value).classes("font-medium").mark(marker)
        with _fact("Zones"), ui.row().classes("gap-1").mark("fact-zones"):
            for zone in event.get("zones", ()):
                ui.chip(zone, icon="pentagon").props("dense square outline color=amber-9")
            if not event.get("zones"):
                ui.label("none")
        with _fact("Lines"), ui.column().classes("gap-0").mark("fact-lines"):
            for crossing in event.get("lines", ()):
                icon = "login" if crossing.get("direction") == "in" else "logout"
                with ui.row().classes("items-center gap-1 no-wrap"):
                    ui.icon(icon, size="xs")
                    ui.label(event_format.crossing(crossing))
            if not event.get("lines"):
                ui.label("none crossed")

    def _fill_actions(self) -> None:
        event_id = self.event["id"]
        if self.event.get("has_clip"):
            link = self._dash.media_url(clip_path(event_id), CLIP_URL_TTL_S)
            ui.button("Download clip", icon="download").props(
                f'flat no-caps href="{link}" download="{event_id}.mp4"'
            ).mark("download-clip")
        if self.event.get("has_snapshot"):
            picture = self._dash.media_url(snapshot_path(event_id) + "?bbox=0")
            ui.button("Snapshot", icon="image").props(
                f'flat no-caps href="{picture}" target="_blank"'
            ).mark("open-snapshot")
        ui.space()
        if session.can(self._dash, Scope.OPERATOR):  # viewers do not see what they cannot do
            ui.button("Delete", icon="delete", on_click=self._delete).props(
                "flat no-caps color=negative"
            ).mark("delete-event")

    # --- changes ---------------------------------------------------------------------------

    def _waiting(self) -> bool:
        return self._clip_state() == "writing" or not self.event.get("has_snapshot")

    async def _poll(self) -> None:
        try:
            record = await asyncio.to_thread(self._archive.get, self.event["id"])
        except EventNotFoundError:  # deleted elsewhere (the API, retention)
            self._timer.deactivate()
            return
        self.event = record.to_api()
        self._render()
        if not self._waiting():
            self._timer.deactivate()

    async def _delete(self) -> None:
        if not session.ensure(self._dash, Scope.OPERATOR):
            return
        title = event_format.title(self.event)
        if not await confirm(f"Delete {title}? Its snapshot and clip are deleted too."):
            return
        event_id = self.event["id"]
        work = asyncio.to_thread(self._archive.delete, event_id)
        ok, _ = await run_action(work, busy="Deleting", done=f"Deleted {title}")
        if ok:
            self._timer.deactivate()
            self.dialog.close()
            self._on_deleted(event_id)

    # --- helpers ---------------------------------------------------------------------------

    def _clip_state(self) -> str:
        return clip_state(self.event, self._clips_on())

    def _clips_on(self) -> bool:
        try:
            return self._dash.services.cameras.get(self.event["camera"]).config.events.clips
        except NotFoundError:  # the camera was removed: its events stay
            return True

    def _camera_name(self) -> str:
        try:
            return self._dash.services.cameras.get(self.event["camera"]).config.name
        except NotFoundError:
            return str(self.event["camera"])


def _fact(name: str) -> ui.row:
    """A row of the details: the name, then what the caller puts in it."""
    row = ui.row().classes("w-full no-wrap items-start gap-2 text-sm")
    with row:
        ui.label(name).classes("w-24 shrink-0 text-gray-500")
    return row
