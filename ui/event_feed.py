"""What the Events page asks the archive for, and when it has to ask again: the filters as a
query, pages that grow with "Load more", and the live bus's event messages as the signal
that the list changed. No widgets here: the page and the tests share it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from appliance.services.event_archive import MAX_PAGE, EventArchive, EventQuery
from appliance.services.events import STORED_EVENTS, EventBus

Event = dict[str, Any]
PAGE = 24  # cards per "Load more": four rows of six on a wide screen
SPANS: dict[int, str] = {3600: "Last hour", 86400: "24 h", 7 * 86400: "7 days", 0: "All"}
SETTLE_S = 120.0  # after its end an event may still get its clip (post-roll, encoding)


@dataclass(frozen=True)
class EventFilter:
    camera: str | None = None
    label: str | None = None
    zone: str | None = None
    span_s: int = 0  # events that started in the last span_s seconds; 0: all

    @property
    def narrowed(self) -> bool:
        return any((self.camera, self.label, self.zone, self.span_s))

    def query(self, limit: int, cursor: str | None = None, now: float | None = None) -> EventQuery:
        after = (time.time() if now is None else now) - self.span_s if self.span_s else None
        limit = max(1, min(limit, MAX_PAGE))
        return EventQuery(self.camera, self.label, self.zone, after, None, limit, cursor)


class EventFeed:
    """The events shown now, newest first: the first page, plus every page loaded since."""

    def __init__(self, archive: EventArchive, bus: EventBus) -> None:
        self._archive, self._bus = archive, bus
        self.filter = EventFilter()
        self.events: list[Event] = []
        self.next_cursor: str | None = None
        self._marker: tuple[Any, ...] | None = self._newest_message()

    async def reload(self, new_filter: EventFilter | None = None) -> list[Event]:
        """Ask again for as many as are shown (at least a page): new events come in on top,
        ended ones get their end, deleted ones go. A new filter starts from one page."""
        if new_filter is not None and new_filter != self.filter:
            self.filter, self.events, self.next_cursor = new_filter, [], None
        asked = self.filter
        query = asked.query(max(PAGE, len(self.events)))
        page = await asyncio.to_thread(self._archive.list, query)
        if self.filter == asked:  # else the answer to a newer filter is on its way
            self.events, self.next_cursor = page.events, page.next_cursor
        return self.events

    async def load_more(self) -> list[Event]:
        if self.next_cursor is None:
            return self.events
        asked = self.filter
        page = await asyncio.to_thread(self._archive.list, asked.query(PAGE, self.next_cursor))
        if self.filter == asked:
            known = {e["id"] for e in self.events}
            self.events = self.events + [e for e in page.events if e["id"] not in known]
            self.next_cursor = page.next_cursor
        return self.events

    def forget(self, event_id: str) -> None:
        self.events = [e for e in self.events if e["id"] != event_id]

    def news(self) -> bool:
        """Whether an event started, changed or ended since the last call (read from the
        bus: no database read)."""
        marker = self._newest_message()
        changed, self._marker = marker != self._marker, marker
        return changed

    def unsettled(self, now: float | None = None) -> bool:
        """Whether a shown event may still change without a bus message: its snapshot and
        clip are flagged in the archive only (and events end on the bus, but only while
        this page listens)."""
        now = time.time() if now is None else now
        return any(_unsettled(e, now) for e in self.events)

    def _newest_message(self) -> tuple[Any, ...] | None:
        return newest_event_message(self._bus.recent())


def newest_event_message(messages: Iterable[dict[str, Any]]) -> tuple[Any, ...] | None:
    """(time, type, event id) of the last event.* message, None when there is none."""
    last = None
    for message in messages:
        kind = str(message.get("type", ""))
        if kind.startswith(STORED_EVENTS) and isinstance(message.get("event"), dict):
            last = (message.get("at"), kind, message["event"].get("id"))
    return last


def _unsettled(event: Event, now: float) -> bool:
    end = event.get("end_time")
    if end is None:
        return True
    recent = now - float(end) < SETTLE_S
    return recent and not (event.get("has_snapshot") and event.get("has_clip"))
