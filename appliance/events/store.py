"""The event store: SQLite in WAL mode, written by one thread (see writer.py), read by any
thread through its own connection, which WAL lets run beside the writer without waiting.

Closing a connection while another thread runs a query on it crashes the process (SIGSEGV
in CPython's sqlite3 module): `close()` interrupts reads in flight and waits for them to
end before it closes their connections."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from appliance.errors import EventStoreError
from appliance.events.model import EVENT_ID, EventRecord, check_names
from appliance.events.query import DEFAULT_LIMIT, SELECT, EventQuery
from appliance.events.schema import BUSY_TIMEOUT_S, connect
from appliance.events.writer import StoreWriter, WriterStats

_T = TypeVar("_T")
_ENDED_OLDEST_FIRST = "end_time IS NOT NULL ORDER BY start_time, id LIMIT ?"
_CLOSE_PATIENCE_S = 10.0  # an interrupted query ends at SQLite's next step: milliseconds


class EventStore:
    """`upsert` and `delete` return at once (the pipeline calls them); what they queue is
    visible to reads once committed, within about `max_delay` seconds, or after `flush()`."""

    def __init__(
        self,
        path: Path,
        *,
        max_delay: float = 0.05,
        max_batch: int = 200,
        max_pending: int = 10_000,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._writer = StoreWriter(
            path,
            max_delay=max_delay,
            max_batch=max_batch,
            max_pending=max_pending,
            busy_timeout_s=busy_timeout_s,
        )
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Condition()  # guards _readers, _reading, _closed
        self._reading = 0  # reads in flight
        self._closed = False

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- writes (queued) -------------------------------------------------------------------

    def upsert(self, record: EventRecord, *, seen_at: float | None = None) -> None:
        """Queue a new or changed event. `seen_at`: when the object was last seen (default:
        its end, or now); a crash leaves open events ending there (`end_open_events`)."""
        check_names(record)
        if seen_at is None:
            seen_at = record.end_time if record.end_time is not None else time.time()
        self._writer.upsert(record, seen_at)

    def delete(self, event_id: str) -> Future[bool]:
        """Queue a delete of the row (files are the caller's: see retention.delete_event);
        the future says, once committed, whether there was such an event."""
        if not EVENT_ID.fullmatch(event_id):
            done: Future[bool] = Future()
            done.set_result(False)
            return done
        return self._writer.delete(event_id)

    def end_open_events(self, at: float | None = None, *, timeout: float = 30.0) -> int:
        """At start, before any camera runs: events a crash left open (end_time NULL) and last
        seen at or before `at` (default: all) end when they were last seen. How many."""
        bound = float("inf") if at is None else at
        sql = "UPDATE events SET end_time = last_seen WHERE end_time IS NULL AND last_seen <= ?"
        future = self._writer.call(lambda c: c.execute(sql, (bound,)).rowcount)
        return int(future.result(timeout))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed; False if `timeout` ran out."""
        return self._writer.flush(timeout)

    def stats(self) -> WriterStats:
        return self._writer.stats()

    def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection. A read still
        running in another thread is interrupted (it raises EventStoreError) and waited for."""
        with self._readers_lock:
            if self._closed:
                return
            self._closed = True
            for connection in self._readers:
                connection.interrupt()  # thread-safe: the query stops at its next step
        self._writer.close()
        with self._readers_lock:
            if not self._readers_lock.wait_for(lambda: self._reading == 0, _CLOSE_PATIENCE_S):
                return  # a read that will not end: leave its connections to the process exit
            for connection in self._readers:
                connection.close()
            self._readers.clear()

    # --- reads (this thread's connection) --------------------------------------------------

    def get(self, event_id: str) -> EventRecord | None:
        if not EVENT_ID.fullmatch(event_id):
            return None
        row = self._read(lambda c: c.execute(f"{SELECT} WHERE id = ?", (event_id,)).fetchone())
        return None if row is None else EventRecord.from_row(row)

    def query(
        self,
        *,
        camera: str | None = None,
        label: str | None = None,
        zone: str | None = None,
        after: float | None = None,
        before: float | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> tuple[list[EventRecord], str | None]:
        """Newest first (start_time, then id); the cursor for the next page, None at the end.
        Raises InvalidInputError for a limit outside 1..500, InvalidCursorError (both 422)."""
        query = EventQuery(camera, label, zone, after, before, limit, cursor)
        sql, args = query.sql()
        return query.page(self._read(lambda c: c.execute(sql, args).fetchall()))

    def cameras(self) -> list[str]:
        rows = self._read(lambda c: c.execute("SELECT DISTINCT camera FROM events").fetchall())
        return [r[0] for r in rows]

    def all_ids(self) -> set[str]:
        return {r[0] for r in self._read(lambda c: c.execute("SELECT id FROM events").fetchall())}

    def expired(self, camera: str, older_than: float, *, limit: int = 500) -> list[EventRecord]:
        """Ended events of `camera` that ended before `older_than`, oldest first. Open events
        never expire: their clip may still be recording."""
        sql = f"{SELECT} WHERE camera = ? AND start_time < ? AND end_time < ? AND "
        args = (camera, older_than, older_than, limit)
        return self._records(sql + _ENDED_OLDEST_FIRST, args)

    def oldest(self, n: int, *, after: tuple[float, str] | None = None) -> list[EventRecord]:
        """The `n` oldest ended events, starting after the (start_time, id) given (to page)."""
        start, last_id = after if after is not None else (float("-inf"), "")
        sql = f"{SELECT} WHERE (start_time > ? OR (start_time = ? AND id > ?)) AND "
        return self._records(sql + _ENDED_OLDEST_FIRST, (start, start, last_id, n))

    def integrity_check(self) -> str:
        """SQLite's verdict on the file: "ok" or what is wrong."""
        rows = self._read(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return "\n".join(str(r[0]) for r in rows)

    def _records(self, sql: str, args: tuple) -> list[EventRecord]:
        rows = self._read(lambda c: c.execute(sql, args).fetchall())
        return [EventRecord.from_row(r) for r in rows]

    def _read(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        """`run` on this thread's connection, counted as in flight so `close()` waits for it.
        `run` must fetch its rows: a cursor read after it returns is not covered."""
        with self._readers_lock:
            if self._closed:
                raise EventStoreError("the event store is closed")
            self._reading += 1
        try:
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = connect(self.path, readonly=True, busy_timeout_s=self._busy_timeout_s)
                self._local.connection = connection
                with self._readers_lock:
                    self._readers.append(connection)
            return run(connection)
        except sqlite3.OperationalError as exc:
            if self._closed:  # interrupted by close()
                raise EventStoreError("the event store is closed") from exc
            raise
        finally:
            with self._readers_lock:
                self._reading -= 1
                self._readers_lock.notify_all()
