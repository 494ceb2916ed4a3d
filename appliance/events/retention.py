"""Retention: events older than their camera's `retain_days` go, then the oldest until the
media fit the disk cap and the disk keeps its minimum free space. An event goes row first,
files second, so a crash between the two leaves files that `sweep_orphans` removes at start,
never a listed event whose files are gone."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from appliance.events.files import delete_files, media_sizes
from appliance.events.model import EventRecord
from appliance.events.store import EventStore

DAY_S = 86_400.0
GB = 1024**3
_BATCH = 200


def disk_free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class RetentionReport:
    expired: int  # events past their camera's retain_days
    evicted: int  # events deleted for the disk cap or the free-space floor
    freed_bytes: int
    used_bytes: int  # media bytes left
    short_bytes: int  # still over the cap or under the floor after evicting all it could


@dataclass(frozen=True)
class RetentionPolicy:
    retain_days_by_camera: Mapping[str, float] = field(default_factory=dict)
    default_days: float = 10.0
    max_bytes: int = 5 * GB  # snapshots and clips (the database is not counted)
    min_free_bytes: int = 1 * GB

    def enforce(
        self,
        store: EventStore,
        root: Path,
        *,
        now: float | None = None,
        disk_free: Callable[[Path], int] = disk_free_bytes,
    ) -> RetentionReport:
        """Delete what the policy says must go. `disk_free` measures the free bytes on the
        disk holding `root`; tests pass their own to stand for a nearly full disk."""
        now = time.time() if now is None else now
        expired, freed = self._expire(store, root, now)
        sizes = media_sizes(root)
        used = sum(sizes.values())
        need = max(used - self.max_bytes, self.min_free_bytes - disk_free(root), 0)
        evicted: list[EventRecord] = []
        after: tuple[float, str] | None = None
        while need > 0 and (batch := store.oldest(_BATCH, after=after)):
            after = (batch[-1].start_time, batch[-1].id)
            for record in batch:
                size = sizes.get(record.id, 0)
                if size and need > 0:  # events without files free nothing: they stay
                    evicted.append(record)
                    need -= size
        evicted_bytes = remove_events(store, root, evicted)
        return RetentionReport(
            expired=expired,
            evicted=len(evicted),
            freed_bytes=freed + evicted_bytes,
            used_bytes=used - evicted_bytes,
            short_bytes=max(need, 0),
        )

    def _expire(self, store: EventStore, root: Path, now: float) -> tuple[int, int]:
        """Delete events past their camera's retain_days; (how many, bytes freed)."""
        count = freed = 0
        for camera in store.cameras():
            cutoff = now - self.retain_days_by_camera.get(camera, self.default_days) * DAY_S
            # each batch's deletes are committed before the next read, so none repeats
            while batch := store.expired(camera, cutoff, limit=_BATCH):
                freed += remove_events(store, root, batch)
                count += len(batch)
        return count, freed


def remove_events(store: EventStore, root: Path, records: Iterable[EventRecord]) -> int:
    """Delete each event's row, then (once the deletes are committed) its files; bytes freed."""
    records = list(records)
    futures = [(record, store.delete(record.id)) for record in records]
    freed = 0
    for record, future in futures:
        future.result()
        freed += delete_files(root, record.camera, record.id)
    return freed


def delete_event(store: EventStore, root: Path, event_id: str, *, timeout: float = 10.0) -> bool:
    """The API's DELETE: False if there is no such event; else its row and files are gone."""
    record = store.get(event_id)
    if record is None or not store.delete(event_id).result(timeout):
        return False
    delete_files(root, record.camera, record.id)
    return True
