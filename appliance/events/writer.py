"""The events database's one writer: a thread that owns the only write connection.

Callers (camera pipelines) enqueue and return at once: upserts of one id coalesce while they
wait, so a burst of updates costs one row write per event per batch. A batch is everything
queued after the first op plus up to `max_delay`, committed in transactions of `max_batch`
ids. The queue holds at most `max_pending` ids; past that new events are dropped and counted
rather than growing memory while the disk is failing (deletes are always taken). A failed
batch rolls back: its deletes fail at once (the API can say so), its upserts go back in the
queue ahead of anything queued since for their ids, and are retried after a pause."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from appliance.errors import EventStoreError
from appliance.events.model import EventRecord
from appliance.events.schema import BUSY_TIMEOUT_S, connect, migrate
from appliance.events.writes import Call, Delete, Op, Upsert, apply, coalesce, run_calls

RETRY_PAUSE_S = 1.0


@dataclass
class WriterStats:
    enqueued: int = 0
    coalesced: int = 0  # upserts merged into one still queued
    dropped: int = 0  # new events refused because the queue was full
    rows_written: int = 0
    batches: int = 0
    failures: int = 0
    pending: int = 0


class StoreWriter:
    def __init__(
        self,
        path: Path,
        *,
        max_delay: float = 0.05,
        max_batch: int = 200,
        max_pending: int = 10_000,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self._max_delay, self._max_batch, self._max_pending = max_delay, max_batch, max_pending
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer waits here
        self._settled = threading.Condition(self._lock)  # flush() waits here
        self._pending: dict[str, list[Op]] = {}
        self._calls: list[Call] = []
        self._seq = self._done = 0  # ops enqueued; ops committed (all those up to _done)
        self._hurry = 0
        self._stopping = False
        self._stats = WriterStats()
        self._stopped = threading.Event()
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(path, busy_timeout_s, ready),
            name="event-store-writer",
            daemon=True,
        )
        self._thread.start()
        ready.result()  # a database that cannot be opened or migrated fails here

    # --- callers' side: never blocks beyond a short lock ---------------------------------

    def upsert(self, record: EventRecord, seen_at: float) -> None:
        with self._lock:
            self._check_open()
            ops = self._pending.get(record.id)
            if ops is None:
                if len(self._pending) >= self._max_pending:
                    self._stats.dropped += 1
                    return
                ops = self._pending[record.id] = []
            if ops and isinstance(ops[-1], Upsert):
                ops[-1] = Upsert(record, seen_at)
                self._stats.coalesced += 1
            else:
                ops.append(Upsert(record, seen_at))
            self._enqueued(len(self._pending))

    def delete(self, event_id: str) -> Future[bool]:
        future: Future[bool] = Future()
        with self._lock:
            self._check_open()
            self._pending.setdefault(event_id, []).append(Delete(future))
            self._enqueued(len(self._pending))
        return future

    def call(self, function: Callable[[sqlite3.Connection], Any]) -> Future[Any]:
        """Run `function(connection)` on the writer thread in its own transaction, after
        everything queued before it."""
        future: Future[Any] = Future()
        with self._lock:
            self._check_open()
            self._calls.append((function, future))
            self._enqueued(1)
            self._work.notify()
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is committed; False if `timeout` ran out."""
        with self._lock:
            target = self._seq
            self._hurry += 1
            self._work.notify()
            try:
                return self._settled.wait_for(lambda: self._done >= target, timeout)
            finally:
                self._hurry -= 1

    def close(self, timeout: float | None = 10.0) -> None:
        self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._work.notify()
        self._stopped.set()
        self._thread.join(timeout)

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(**{**vars(self._stats), "pending": len(self._pending)})

    def _check_open(self) -> None:
        if self._stopping:
            raise EventStoreError("the event store is closed")

    def _enqueued(self, pending: int) -> None:
        self._seq += 1
        self._stats.enqueued += 1
        if pending == 1 or pending >= self._max_batch:
            self._work.notify()

    # --- the writer thread -----------------------------------------------------------------

    def _run(self, path: Path, busy_timeout_s: float, ready: Future[None]) -> None:
        try:
            connection = connect(path, busy_timeout_s=busy_timeout_s)
            migrate(connection)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while True:
                batch, calls, seq, stopping = self._take()
                ok = self._write(connection, batch)
                if ok:
                    run_calls(connection, calls)
                else:  # run them once the batch before them is in
                    with self._lock:
                        self._calls[:0] = calls
                with self._lock:
                    if ok:
                        self._done = max(self._done, seq)
                        self._settled.notify_all()
                if stopping:
                    return
                if not ok:
                    self._stopped.wait(RETRY_PAUSE_S)
        finally:
            connection.close()

    def _take(self) -> tuple[dict[str, list[Op]], list[Call], int, bool]:
        with self._lock:
            self._work.wait_for(lambda: self._pending or self._calls or self._stopping)
            deadline = time.monotonic() + self._max_delay
            while not (self._stopping or self._hurry or self._calls):
                left = deadline - time.monotonic()
                if left <= 0 or len(self._pending) >= self._max_batch:
                    break
                self._work.wait(left)
            batch, self._pending = self._pending, {}
            calls, self._calls = self._calls, []
            return batch, calls, self._seq, self._stopping

    def _write(self, connection: sqlite3.Connection, batch: dict[str, list[Op]]) -> bool:
        items = list(batch.items())
        for start in range(0, len(items), self._max_batch):
            chunk = items[start : start + self._max_batch]
            try:
                results = apply(connection, chunk)
            except Exception as exc:
                self._failed(chunk, exc)
                return self._requeue(items[start + self._max_batch :])
            for future, deleted in results:
                future.set_result(deleted)
            with self._lock:
                self._stats.batches += 1
                self._stats.rows_written += len(chunk)
        return True

    def _failed(self, chunk: list[tuple[str, list[Op]]], exc: Exception) -> None:
        """Deletes in a failed chunk fail (the API says so now); its upserts wait for a retry."""
        logger.warning("event store: a batch of {} events failed, retrying: {}", len(chunk), exc)
        with self._lock:
            self._stats.failures += 1
        for _, ops in chunk:
            for op in ops:
                if isinstance(op, Delete):
                    op.future.set_exception(EventStoreError(f"delete failed: {exc}"))
        self._requeue([(i, [op for op in ops if isinstance(op, Upsert)][-1:]) for i, ops in chunk])

    def _requeue(self, items: list[tuple[str, list[Op]]]) -> bool:
        """Put ops back in front of any queued since for the same id."""
        with self._lock:
            for event_id, ops in items:
                if ops:
                    self._pending[event_id] = coalesce(ops + self._pending.get(event_id, []))
        return False
