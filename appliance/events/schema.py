"""The events database's schema, versioned by `PRAGMA user_version`, and its connections.

Each migration step runs in one transaction with the version bump, so a crash mid-migration
leaves the previous version whole and the next start runs the step again."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from appliance.errors import EventStoreError

BUSY_TIMEOUT_S = 5.0

V1 = (
    """CREATE TABLE events (
        id TEXT PRIMARY KEY,
        camera TEXT NOT NULL,
        label TEXT NOT NULL,
        track_id INTEGER NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL,
        top_score REAL NOT NULL,
        box TEXT NOT NULL,
        frame_width INTEGER NOT NULL,
        frame_height INTEGER NOT NULL,
        zones TEXT NOT NULL,
        lines TEXT NOT NULL,
        has_snapshot INTEGER NOT NULL,
        has_clip INTEGER NOT NULL,
        last_seen REAL NOT NULL
    )""",
    # newest-first listing, by camera and by label: all keyed like the cursor
    "CREATE INDEX events_by_time ON events (start_time, id)",
    "CREATE INDEX events_by_camera ON events (camera, start_time, id)",
    "CREATE INDEX events_by_label ON events (label, start_time, id)",
    # zones are a list per event: a side table, keyed like the listing, makes `zone=` an index
    # range in the listing's order (no sort of every event that ever entered the zone)
    """CREATE TABLE event_zones (
        zone TEXT NOT NULL,
        start_time REAL NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (zone, start_time, event_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX event_zones_by_event ON event_zones (event_id)",
)

# MIGRATIONS[n] takes the database from version n to n + 1. Only ever append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(
    path: Path, *, readonly: bool = False, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal.

    synchronous=NORMAL: in WAL mode a commit is in the OS's page cache when it returns, so it
    survives the process being killed; only a power cut can lose the last commits (never the
    file's integrity), and no fsync per commit is paid on the device's flash storage."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {round(busy_timeout_s * 1000)}")
    if readonly:
        connection.execute("PRAGMA query_only = 1")
    else:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the database up to `len(steps)`; the version it started at."""
    start = user_version(connection)
    if start > len(steps):
        raise EventStoreError(
            f"the events database has schema version {start}, newer than this appliance's"
            f" {len(steps)}: update the appliance or move the database away"
        )
    for version in range(start, len(steps)):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in steps[version]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return start
