"""The event store on a real SQLite file: writes queued and coalesced by the writer thread,
reads on per-thread connections, filters, paging, and errors the API turns into 422."""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from event_records import CAMERAS, LABELS, ZONES, record, varied

from appliance.api.errors import status_for
from appliance.config import CAMERA_ID as CONFIG_CAMERA_ID
from appliance.errors import EventStoreError, InvalidCursorError, InvalidInputError
from appliance.events.model import CAMERA_ID, EVENT_ID, EventRecord, new_event_id
from appliance.events.query import encode_cursor
from appliance.events.schema import MIGRATIONS, SCHEMA_VERSION, connect, migrate, user_version
from appliance.events.store import EventStore
from appliance.events.writes import Delete, Upsert, coalesce

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path):
    with EventStore(tmp_path / "events" / "events.db") as opened:
        yield opened


def test_a_record_round_trips_and_shows_in_the_api_shape(store: EventStore) -> None:
    event = record(T0, zones=("door", "drive"), end=T0 + 4)
    store.upsert(event)
    assert store.flush(5)
    assert store.get(event.id) == event
    api = event.to_api()
    assert api["box"] == [10.5, 20.0, 110.25, 220.0]
    assert api["frame"] == {"width": 1280, "height": 720}
    assert api["lines"] == [{"line": "gate", "direction": "in", "at": T0 + 0.5}]
    assert api["zones"] == ["door", "drive"] and api["end_time"] == T0 + 4
    assert store.get("1.000000-nosuch") is None and store.get("../etc") is None


def test_ids_sort_by_time_and_names_are_checked(store: EventStore) -> None:
    ids = [new_event_id(T0 + i / 1000) for i in range(5)]
    assert ids == sorted(ids) and all(EVENT_ID.fullmatch(i) for i in ids)
    assert CAMERA_ID.pattern == CONFIG_CAMERA_ID  # folders are named after camera ids
    for bad in (record(T0, camera="../x"), record(T0, event_id="1.000000-abcdef\n")):
        with pytest.raises(ValueError, match=r"not an? (camera|event) id"):
            store.upsert(bad)


def test_updates_of_one_event_coalesce_while_queued(tmp_path: Path) -> None:
    # a long delay keeps the first batch open while 100 updates arrive
    with EventStore(tmp_path / "events.db", max_delay=5.0) as store:
        first = record(T0)
        for i in range(100):
            store.upsert(record(T0, event_id=first.id, score=i / 100))
        assert store.flush(10)
        stats = store.stats()
        assert (stats.enqueued, stats.coalesced, stats.rows_written) == (100, 99, 1)
        assert store.get(first.id).top_score == 0.99


def test_requeued_ops_merge_with_newer_ones_in_order() -> None:
    """What a failed batch puts back goes before what was queued since, upserts merged."""
    u1, u2, u3 = (Upsert(record(T0, event_id="1.000000-aaaaaa", score=s), T0) for s in (1, 2, 3))
    d1, d2 = Delete(Future()), Delete(Future())
    assert coalesce([u1, u2, d1, u3]) == [u2, d1, u3]
    assert coalesce([u1, d1, d2, u2, u3]) == [u1, d1, d2, u3]


def test_deletes_say_whether_there_was_an_event_and_keep_order_with_upserts(
    store: EventStore,
) -> None:
    kept, gone = record(T0), record(T0 + 1)
    store.upsert(gone)
    deleted = store.delete(gone.id)
    store.upsert(kept)
    again = store.delete(kept.id)
    store.upsert(kept)  # upsert, delete, upsert of one id: the last op wins
    assert deleted.result(5) is True and again.result(5) is True
    assert store.delete(gone.id).result(5) is False
    assert store.delete("not-an-id").result(0) is False
    assert store.get(gone.id) is None and store.get(kept.id) == kept
    assert store.query()[0] == [kept]


def test_filters_match_a_reference_and_pages_cover_every_row_once(store: EventStore) -> None:
    events = varied(700)
    for event in events:
        store.upsert(event)
    assert store.flush(10)
    newest_first = sorted(events, key=lambda e: (e.start_time, e.id), reverse=True)
    middle = events[300].start_time
    cases = [{}, {"after": middle}, {"before": middle}, {"after": T0 + 10, "before": middle}]
    cases += [{"camera": c} for c in CAMERAS] + [{"label": x} for x in LABELS]
    cases += [{"zone": z} for z in ZONES] + [{"zone": "door", "camera": "yard", "label": "dog"}]
    cases += [{"camera": "nowhere"}, {"zone": "nowhere"}]
    for case in cases:
        expected = [e for e in newest_first if _matches(e, **case)]
        for limit in (1, 7, 500):
            assert _all_pages(store, limit, **case) == expected, (case, limit)


def test_events_written_between_pages_do_not_shift_the_next_page(store: EventStore) -> None:
    events = varied(60)
    for event in events:
        store.upsert(event)
    store.flush(5)
    first, cursor = store.query(limit=25)
    store.upsert(record(T0 + 10**6))  # newer than all
    store.upsert(record(first[-1].start_time, event_id=f"{first[-1].start_time:.6f}-zzzzzz"))
    store.flush(5)
    second, _ = store.query(limit=25, cursor=cursor)
    reference = sorted(events, key=lambda e: (e.start_time, e.id), reverse=True)
    assert first + second == reference[:50]


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "!!!!",
        "bm90IGpzb24",
        "WzFd",
        "WyJhIiwiYiJd",
        "WzEsMl0",
        "eyJhIjoxLCJiIjoyfQ",
        "é",
        "A" * 300,
    ],
    ids=[
        "short",
        "not-base64",
        "not-json",
        "one-item",
        "strings",
        "id-not-str",
        "dict",
        "utf8",
        "long",
    ],
)
def test_a_malformed_cursor_is_a_422_with_its_own_code(store: EventStore, cursor: str) -> None:
    with pytest.raises(InvalidCursorError) as caught:
        store.query(cursor=cursor)
    assert caught.value.code == "invalid_cursor" and status_for(caught.value) == 422


def test_a_cursor_for_an_unknown_id_is_still_a_position(store: EventStore) -> None:
    events = varied(20)
    for event in events:
        store.upsert(event)
    store.flush(5)
    ghost = record(events[10].start_time, event_id=f"{events[10].start_time:.6f}-zzzzzz")
    rest, _ = store.query(cursor=encode_cursor(ghost), limit=500)
    assert all((e.start_time, e.id) < (ghost.start_time, ghost.id) for e in rest)
    assert len(rest) == sum((e.start_time, e.id) < (ghost.start_time, ghost.id) for e in events)


def test_limits_and_time_bounds_are_checked(store: EventStore) -> None:
    for event in varied(3):
        store.upsert(event)
    store.flush(5)
    for limit in (0, -1, 501):
        with pytest.raises(InvalidInputError, match="limit"):
            store.query(limit=limit)
    with pytest.raises(InvalidInputError):
        store.query(after=float("nan"))
    assert len(store.query(limit=1)[0]) == 1 and len(store.query(limit=500)[0]) == 3


def test_open_events_left_by_a_crash_end_when_last_seen(store: EventStore) -> None:
    open_a, open_b, ended = record(T0), record(T0 + 1), record(T0 + 2, end=T0 + 9)
    store.upsert(open_a, seen_at=T0 + 5)
    store.upsert(open_b, seen_at=T0 + 50)
    store.upsert(ended)
    assert store.end_open_events(at=T0 + 10) == 1
    assert store.get(open_a.id).end_time == T0 + 5 and store.get(open_b.id).end_time is None
    assert store.end_open_events() == 1 and store.get(open_b.id).end_time == T0 + 50
    assert store.get(ended.id) == ended


def test_a_full_queue_drops_new_events_but_still_updates_queued_ones(tmp_path: Path) -> None:
    with EventStore(tmp_path / "events.db", max_delay=5.0, max_pending=3) as store:
        events = [record(T0 + i) for i in range(4)]
        for event in events:
            store.upsert(event)
        store.upsert(record(T0, event_id=events[0].id, score=0.9))
        assert store.flush(10)
        assert store.stats().dropped == 1
        assert store.get(events[3].id) is None and store.get(events[0].id).top_score == 0.9


def test_a_locked_database_delays_writes_and_they_land_once_it_is_free(tmp_path: Path) -> None:
    """Another process holding the write lock past busy_timeout: the batch fails, deletes in
    it report the failure, upserts are retried and committed once the lock is gone."""
    path = tmp_path / "events.db"
    with EventStore(path, busy_timeout_s=0.05) as store:
        victim = record(T0)
        store.upsert(victim)
        store.flush(5)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        late = record(T0 + 1)
        store.upsert(late)
        refused = store.delete(victim.id)
        with pytest.raises(EventStoreError):
            refused.result(5)
        assert not store.flush(0.2)
        other.execute("ROLLBACK")
        other.close()
        assert store.flush(10)
        assert store.get(late.id) == late and store.get(victim.id) == victim
        assert store.stats().failures >= 1


def test_schema_is_created_migrated_once_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    path.touch()  # an empty file is a version 0 database
    with EventStore(path) as store:
        event = record(T0, zones=("door",))
        store.upsert(event)
    with EventStore(path) as store:  # opened again: nothing re-created, data kept
        assert store.query(zone="door")[0] == [event]
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(EventStoreError, match="newer"):
        EventStore(path)


def test_a_failed_migration_step_leaves_the_version_before_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        event = record(T0)
        store.upsert(event)
    broken = (*MIGRATIONS, ("ALTER TABLE events ADD COLUMN note TEXT", "NOT SQL"))
    fixed = (*MIGRATIONS, ("ALTER TABLE events ADD COLUMN note TEXT",))
    connection = connect(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(connection, broken)
    columns = [r[1] for r in connection.execute("PRAGMA table_info(events)")]
    assert user_version(connection) == SCHEMA_VERSION and "note" not in columns
    assert migrate(connection, fixed) == SCHEMA_VERSION  # the version it started from
    assert user_version(connection) == SCHEMA_VERSION + 1
    assert connection.execute("SELECT id FROM events").fetchall() == [(event.id,)]
    connection.close()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db")
    store.upsert(record(T0))
    store.close()
    store.close()
    with pytest.raises(EventStoreError):
        store.upsert(record(T0 + 1))
    with pytest.raises(EventStoreError):
        store.query()


def test_closing_interrupts_a_read_in_flight_and_waits_for_it(tmp_path: Path) -> None:
    # CI: the service's shutdown closed the store while the archive's start-up tidy still read
    # it on another thread; CPython's sqlite3 then crashed the process (SIGSEGV).
    store = EventStore(tmp_path / "events.db")
    store.upsert(record(T0))
    assert store.flush(5)
    started, outcome = threading.Event(), []
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"

    def slow_read(connection: sqlite3.Connection) -> list:
        started.set()
        return connection.execute(endless).fetchall()

    def reader() -> None:
        try:
            outcome.append(store._read(slow_read))  # the seam every public read goes through
        except EventStoreError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(5)
    time.sleep(0.2)  # well inside the query
    begun = time.monotonic()
    store.close()
    assert time.monotonic() - begun < 5
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], EventStoreError), outcome
    assert "closed" in str(outcome[0])
    with pytest.raises(EventStoreError):
        store.all_ids()


def test_reads_run_beside_a_burst_of_50_objects_updated_100_times(store: EventStore) -> None:
    """50 objects updated 100 times each by 5 camera threads while a reader lists events:
    nothing fails, the reader sees whole rows, every object ends at its last update. Timings
    are printed (measured, not asserted: the machine is shared)."""
    objects = [record(T0 + i / 15, camera=CAMERAS[i % 3], track=i) for i in range(50)]
    upsert_us: list[float] = []
    read_ms: list[float] = []
    stop = threading.Event()
    seen: list[int] = []

    def camera(part: list[EventRecord]) -> None:
        for step in range(100):
            for event in part:
                updated = record(
                    event.start_time, camera=event.camera, event_id=event.id, score=step / 100
                )
                t = time.perf_counter()
                store.upsert(updated)
                upsert_us.append((time.perf_counter() - t) * 1e6)
            time.sleep(0.005)

    def reader() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            page, _ = store.query(limit=50)
            read_ms.append((time.perf_counter() - t) * 1000)
            assert all(isinstance(e, EventRecord) for e in page)
            seen.append(len(page))

    read_thread = threading.Thread(target=reader)
    read_thread.start()
    writers = [threading.Thread(target=camera, args=(objects[i::5],)) for i in range(5)]
    started = time.perf_counter()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert store.flush(10)
    elapsed = time.perf_counter() - started
    stop.set()
    read_thread.join()
    assert {e.top_score for e in store.query(limit=500)[0]} == {0.99}
    assert len(store.query(limit=500)[0]) == 50 and max(seen) == 50
    stats = store.stats()
    print(
        f"\n5000 upserts in {elapsed:.2f} s, {stats.rows_written} rows written in"
        f" {stats.batches} batches; upsert() p50 {statistics.median(upsert_us):.1f} us,"
        f" max {max(upsert_us):.0f} us; {len(read_ms)} reads p50"
        f" {statistics.median(read_ms):.2f} ms, max {max(read_ms):.1f} ms"
    )


def _matches(event: EventRecord, **case: object) -> bool:
    return (
        case.get("camera") in (None, event.camera)
        and case.get("label") in (None, event.label)
        and (case.get("zone") is None or case["zone"] in event.zones)
        and event.start_time > case.get("after", float("-inf"))  # type: ignore[operator]
        and event.start_time < case.get("before", float("inf"))  # type: ignore[operator]
    )


def _all_pages(store: EventStore, limit: int, **case: object) -> list[EventRecord]:
    out: list[EventRecord] = []
    cursor = None
    while True:
        page, cursor = store.query(limit=limit, cursor=cursor, **case)  # type: ignore[arg-type]
        out += page
        assert len(page) <= limit
        if cursor is None:
            return out
