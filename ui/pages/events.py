"""Events: what the cameras' tracked objects did, stored: a grid of snapshots, newest first,
filtered by camera, label, zone and time, with new events coming in live; a card opens the
event's clip and details."""

from __future__ import annotations

import time
from collections.abc import Awaitable

from nicegui import ui

from appliance.errors import ApplianceError
from appliance.services.event_archive import EventArchive
from ui.components.event_detail import open_event
from ui.components.event_filters import EventFilters
from ui.components.event_grid import EventGrid
from ui.context import Dashboard
from ui.event_feed import Event, EventFeed, EventFilter
from ui.feedback import error_message
from ui.layout import page_frame

FOLLOW_S = 1.0  # how often the bus is looked at (no database read unless it says so)
SETTLE_EVERY_S = 5.0  # how often unsettled events (no clip yet) are read again


async def events_page(dash: Dashboard) -> None:
    with page_frame(dash, "Events", "/events"):
        archive = dash.services.archive
        if archive is None:
            _not_recorded()
            return
        page = EventsPage(dash, archive)
        await page.reload()
        ui.timer(FOLLOW_S, page.follow)


class EventsPage:
    def __init__(self, dash: Dashboard, archive: EventArchive) -> None:
        self._dash = dash
        self._feed = EventFeed(archive, dash.services.events)
        self._dialogs = ui.element()  # the open event lives here, outside the grid
        self._filters = EventFilters(dash.services.cameras, self.reload)
        self._empty = ui.column().classes("w-full items-center py-12 gap-2").mark("events-empty")
        self._grid = EventGrid(dash, self.open)
        self._more = ui.button("Load more", icon="expand_more", on_click=self.load_more)
        self._more.props("flat no-caps").classes("self-center").mark("load-more")
        self._settled_at = time.monotonic()
        self._empty_shows: tuple[bool, bool] | None = None  # (empty, filtered) on screen

    async def reload(self, new_filter: EventFilter | None = None) -> None:
        await self._update(self._feed.reload(new_filter))

    async def load_more(self) -> None:
        await self._update(self._feed.load_more())

    async def _update(self, work: Awaitable[list[Event]]) -> None:
        try:
            events = await work
        except ApplianceError as exc:  # a cursor gone stale, a database problem: say so
            ui.notify(error_message(exc), type="negative")
            return
        self._show(events)

    async def follow(self) -> None:
        """Read the archive again when the bus says events changed, or now and then while
        a shown event still waits for its end, snapshot or clip."""
        news = self._feed.news()
        due = time.monotonic() - self._settled_at >= SETTLE_EVERY_S
        if news or (due and self._feed.unsettled()):
            self._settled_at = time.monotonic()
            await self.reload()

    async def open(self, event_id: str) -> None:
        await open_event(self._dash, self._dialogs, event_id, self.forget)

    def forget(self, event_id: str) -> None:
        self._feed.forget(event_id)
        self._grid.remove(event_id)
        self._show(self._feed.events)

    def _show(self, events: list[Event]) -> None:
        self._grid.show(events)
        self._more.set_visibility(self._feed.next_cursor is not None)
        shows = (not events, self._feed.filter.narrowed)
        if shows == self._empty_shows:
            return
        self._empty_shows = shows
        self._empty.set_visibility(not events)
        self._empty.clear()
        if events:
            return
        with self._empty:
            ui.icon("video_library", size="xl", color="grey-5")
            if self._feed.filter.narrowed:
                ui.label("No events match these filters").classes("text-lg")
                ui.label("Clear a filter or pick a longer time.").classes("text-sm text-gray-500")
                return
            ui.label("No events yet").classes("text-lg")
            ui.label(
                "An event is an object the tracker follows on a camera, for the labels in the "
                "camera's event settings (person, car, cat, dog… by default), seen for a few "
                "frames with a good score. It appears here the moment it is seen."
            ).classes("text-sm text-gray-500 text-center max-w-xl")


def _not_recorded() -> None:
    with ui.column().classes("w-full items-center py-12 gap-2").mark("events-empty"):
        ui.icon("videocam_off", size="xl", color="grey-5")
        ui.label("Events are not recorded by this service").classes("text-lg")
        ui.label("It runs without an event archive.").classes("text-sm text-gray-500")
