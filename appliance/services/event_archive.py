"""Stored events as the API and the dashboard see them: list, read, snapshot, clip, delete;
and keeping the archive inside its limits (days per camera, a disk cap, free space)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from appliance.errors import ApplianceError, NotFoundError
from appliance.events.files import delete_files, event_paths, sweep_orphans
from appliance.events.model import EVENT_ID, EventRecord
from appliance.events.retention import RetentionPolicy
from appliance.events.snapshots import render_snapshot
from appliance.services.event_recording import EventRecording

MAX_PAGE = 500


class EventNotFoundError(NotFoundError):
    code = "event_not_found"


@dataclass(frozen=True)
class EventQuery:
    camera: str | None = None
    label: str | None = None
    zone: str | None = None
    after: float | None = None
    before: float | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next_cursor: str | None


class EventArchive:
    def __init__(
        self,
        recording: EventRecording,
        policy: Callable[[], RetentionPolicy],
    ) -> None:
        self._recording = recording
        self._root = recording.root
        self._policy = policy  # read each time: cameras' retain_days change

    # --- reads -----------------------------------------------------------------------------

    def list(self, query: EventQuery) -> EventPage:
        """Newest first (blocking: call from a thread)."""
        records, cursor = self._recording.store.query(
            camera=query.camera,
            label=query.label,
            zone=query.zone,
            after=query.after,
            before=query.before,
            limit=query.limit,
            cursor=query.cursor,
        )
        return EventPage([r.to_api() for r in records], cursor)

    def get(self, event_id: str) -> EventRecord:
        if not EVENT_ID.fullmatch(event_id):
            raise EventNotFoundError(f"no event with id {event_id!r}")
        record = self._recording.live_record(event_id) or self._recording.store.get(event_id)
        if record is None:
            raise EventNotFoundError(f"no event with id {event_id!r}")
        return record

    def snapshot(self, event_id: str, *, bbox: bool = True, crop: bool = False) -> bytes:
        record = self.get(event_id)
        path = event_paths(self._root, record.camera, record.id).snapshot
        try:
            jpeg = path.read_bytes() if record.has_snapshot else None
        except FileNotFoundError:
            jpeg = None
        if jpeg is None:
            raise EventNotFoundError(f"event {event_id} has no snapshot (yet)")
        if not bbox and not crop:
            return jpeg
        return render_snapshot(
            jpeg, record.box, record.label, record.top_score, bbox=bbox, crop=crop
        )

    def clip(self, event_id: str) -> Path:
        record = self.get(event_id)
        path = event_paths(self._root, record.camera, record.id).clip
        if not record.has_clip or not path.is_file():
            raise EventNotFoundError(f"event {event_id} has no clip (yet)")
        return path

    # --- changes ---------------------------------------------------------------------------

    def delete(self, event_id: str) -> None:
        """The event, its snapshot and its clip (blocking: call from a thread)."""
        record = self.get(event_id)  # 404 for an unknown one
        self._recording.mark_deleted(event_id)  # nothing more is written for it
        self._recording.store.delete(event_id).result(timeout=30)
        delete_files(self._root, record.camera, record.id)

    # --- upkeep ----------------------------------------------------------------------------

    def tidy_at_start(self) -> None:
        """After a crash: close events left open, remove files no event owns (blocking)."""
        closed = self._recording.store.end_open_events(time.time())
        removed = sweep_orphans(self._root, self._recording.store.all_ids())
        if closed or removed:
            logger.info(
                "events: closed {} left open by the last run, removed {} stray files",
                closed,
                removed,
            )
        self.enforce_retention()

    def enforce_retention(self) -> None:
        report = self._policy().enforce(self._recording.store, self._root)
        if report.expired or report.evicted or report.short_bytes:
            logger.info("events: {}", report)

    async def keep_tidy(self, every_s: float = 600.0) -> None:
        """Runs for the life of the app: old events go, the disk cap holds."""
        try:
            await asyncio.to_thread(self.tidy_at_start)
        except (OSError, ApplianceError) as exc:
            logger.error("events: tidying at start failed: {}", exc)
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(self.enforce_retention)
            except (OSError, ApplianceError) as exc:
                logger.error("events: retention failed: {}", exc)
