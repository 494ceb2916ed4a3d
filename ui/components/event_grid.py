"""The Events page's grid of cards, kept in step with a list of events: new cards come in at
their place, changed ones are redrawn, gone ones leave; unchanged cards are left alone (their
pictures stay loaded, a card being clicked is not replaced under the pointer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nicegui import ui

from appliance.services.cameras import CameraService
from ui.components.event_card import Event, event_card, fill_card, signature, snapshot_path
from ui.context import MEDIA_URL_TTL_S, Dashboard

GRID = "w-full grid gap-3 grid-cols-[repeat(auto-fill,minmax(min(100%,220px),1fr))]"
# a redrawn card reuses its picture's URL while it is this young: a new signature is a new
# URL, which the browser loads again (the card flashes empty meanwhile)
REUSE_URL_S = MEDIA_URL_TTL_S / 2


class EventGrid:
    def __init__(self, dash: Dashboard, on_open: Callable[[str], Any]) -> None:
        self._dash, self._on_open = dash, on_open
        self._cards: dict[str, tuple[tuple[Any, ...], ui.card]] = {}
        self._pictures: dict[str, tuple[str, float]] = {}  # event id -> (URL, signed at)
        self.root = ui.element("div").classes(GRID).mark("event-grid")

    def show(self, events: list[Event]) -> None:
        wanted = {e["id"] for e in events}
        for gone in [i for i in self._cards if i not in wanted]:
            self.remove(gone)
        names = _CameraNames(self._dash.services.cameras)
        for index, event in enumerate(events):
            known = self._cards.get(event["id"])
            if known is None:
                with self.root:
                    card = event_card(
                        event, names[event["camera"]], self._picture(event), self._on_open
                    )
                self._cards[event["id"]] = (signature(event), card)
            elif known[0] != signature(event):
                card = known[1]
                with card.clear():
                    fill_card(event, names[event["camera"]], self._picture(event))
                self._cards[event["id"]] = (signature(event), card)
            else:
                card = known[1]
            if self.root.default_slot.children.index(card) != index:
                card.move(target_index=index)

    def remove(self, event_id: str) -> None:
        self._pictures.pop(event_id, None)
        known = self._cards.pop(event_id, None)
        if known is not None:
            known[1].delete()

    def _picture(self, event: Event) -> str | None:
        if not event.get("has_snapshot"):
            return None
        now, known = time.monotonic(), self._pictures.get(event["id"])
        if known is not None and now - known[1] < REUSE_URL_S:
            return known[0]
        url = self._dash.media_url(snapshot_path(event["id"], crop=True))
        self._pictures[event["id"]] = (url, now)
        return url


class _CameraNames:
    """Camera id -> name, listed once per update and only if a card is drawn; the id of a
    camera removed since (its events stay)."""

    def __init__(self, cameras: CameraService) -> None:
        self._cameras = cameras
        self._names: dict[str, str] | None = None

    def __getitem__(self, camera_id: str) -> str:
        if self._names is None:
            self._names = {v.config.id: v.config.name for v in self._cameras.list()}
        return self._names.get(camera_id, camera_id)
