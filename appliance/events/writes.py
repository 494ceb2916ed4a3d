"""What the writer thread does to the database: the queued ops and their transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from appliance.events.model import COLUMNS, EventRecord

_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in (*COLUMNS[1:], "last_seen"))
UPSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}, last_seen) VALUES ({', '.join('?' * 15)})"
    f" ON CONFLICT (id) DO UPDATE SET {_UPDATES}"
)


@dataclass(frozen=True)
class Upsert:
    record: EventRecord
    seen_at: float


@dataclass(frozen=True)
class Delete:
    future: Future[bool]


Op = Upsert | Delete
Call = tuple[Callable[[sqlite3.Connection], Any], Future[Any]]


def coalesce(ops: Sequence[Op]) -> list[Op]:
    """Consecutive upserts of one id: only the last one counts."""
    out: list[Op] = []
    for op in ops:
        if out and isinstance(op, Upsert) and isinstance(out[-1], Upsert):
            out[-1] = op
        else:
            out.append(op)
    return out


def apply(
    connection: sqlite3.Connection, chunk: Sequence[tuple[str, Sequence[Op]]]
) -> list[tuple[Future[bool], bool]]:
    """One transaction for a chunk of ids' ops, each id's in order; the deletes' results, for
    the caller to hand out once the transaction is committed."""
    results = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for event_id, ops in chunk:
            for op in ops:
                if isinstance(op, Upsert):
                    _upsert(connection, op)
                else:
                    connection.execute("DELETE FROM event_zones WHERE event_id = ?", (event_id,))
                    gone = connection.execute("DELETE FROM events WHERE id = ?", (event_id,))
                    results.append((op.future, gone.rowcount > 0))
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return results


def run_calls(connection: sqlite3.Connection, calls: Sequence[Call]) -> None:
    """Each call in its own transaction; its result or exception goes to its future."""
    for function, future in calls:
        try:
            connection.execute("BEGIN IMMEDIATE")
            result = function(connection)
            connection.execute("COMMIT")
        except Exception as exc:
            rollback(connection)
            future.set_exception(exc)
        else:
            future.set_result(result)


def rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def _upsert(connection: sqlite3.Connection, op: Upsert) -> None:
    record = op.record
    connection.execute(UPSERT, (*record.to_row(), max(op.seen_at, record.start_time)))
    connection.execute("DELETE FROM event_zones WHERE event_id = ?", (record.id,))
    connection.executemany(
        "INSERT OR IGNORE INTO event_zones (zone, start_time, event_id) VALUES (?, ?, ?)",
        [(zone, record.start_time, record.id) for zone in record.zones],
    )
