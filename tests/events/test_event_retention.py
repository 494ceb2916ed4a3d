"""Retention on a real store and real files: days per camera, the disk cap, the free-space
floor (through `disk_free`, the one seam: this disk's free space is not ours to fill), files
deleted with their rows, and the start-up sweep of files without a row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from event_records import record

from appliance.events.files import event_paths, media_sizes, sweep_orphans
from appliance.events.model import EventRecord
from appliance.events.retention import DAY_S, GB, RetentionPolicy, delete_event
from appliance.events.store import EventStore

NOW = 1_700_000_000.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "events"


@pytest.fixture
def store(root: Path):
    with EventStore(root / "events.db") as opened:
        yield opened


def add(store: EventStore, root: Path, event: EventRecord, size: int = 1000) -> EventRecord:
    """Store `event` with a snapshot and a clip of `size` bytes together."""
    paths = event_paths(root, event.camera, event.id)
    for path, part in ((paths.snapshot, size // 4), (paths.clip, size - size // 4)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff" * part)
    store.upsert(event)
    return event


def ended(age_days: float, camera: str = "front") -> EventRecord:
    start = NOW - age_days * DAY_S
    return record(start, camera=camera, end=start + 20)


def on_disk(root: Path, event: EventRecord) -> bool:
    paths = event_paths(root, event.camera, event.id)
    return paths.snapshot.exists() or paths.clip.exists()


def test_events_expire_by_their_cameras_days(store: EventStore, root: Path) -> None:
    ages = (0.5, 2, 5, 11)
    front = [add(store, root, ended(age, "front")) for age in ages]
    yard = [add(store, root, ended(age, "yard")) for age in ages]
    still_open = add(store, root, record(NOW - 20 * DAY_S, camera="yard"))  # a parked car
    store.flush(5)
    policy = RetentionPolicy({"front": 1}, default_days=10)
    report = policy.enforce(store, root, now=NOW, disk_free=lambda _: 10**12)
    kept = front[:1] + yard[:3] + [still_open]
    assert store.all_ids() == {e.id for e in kept}
    assert report.expired == 4 and report.evicted == 0 and report.freed_bytes == 4000
    assert all(on_disk(root, e) for e in kept)
    assert not any(on_disk(root, e) for e in front[1:] + yard[3:])


def test_the_disk_cap_deletes_the_oldest_first(store: EventStore, root: Path) -> None:
    events = [add(store, root, ended(1 - i / 100)) for i in range(10)]  # oldest first
    no_files = record(NOW - 2 * DAY_S, end=NOW - 2 * DAY_S + 5)  # older still, but 0 bytes
    store.upsert(no_files)
    store.flush(5)
    report = RetentionPolicy(max_bytes=6500).enforce(
        store, root, now=NOW, disk_free=lambda _: 10**12
    )
    assert (report.evicted, report.freed_bytes, report.used_bytes) == (4, 4000, 6000)
    assert store.all_ids() == {e.id for e in events[4:]} | {no_files.id}
    assert sum(media_sizes(root).values()) == 6000
    assert not any(on_disk(root, e) for e in events[:4])


def test_the_free_space_floor_evicts_until_enough_is_free(store: EventStore, root: Path) -> None:
    events = [add(store, root, ended(1 - i / 100)) for i in range(10)]
    store.flush(5)
    free = 10**9
    policy = RetentionPolicy(min_free_bytes=free + 2500)
    report = policy.enforce(store, root, now=NOW, disk_free=lambda _: free)
    assert report.evicted == 3 and report.short_bytes == 0
    assert store.all_ids() == {e.id for e in events[3:]}
    # a floor no deletion can reach: every event with files goes, and the report says so
    floor = RetentionPolicy(min_free_bytes=free * 2)
    report = floor.enforce(store, root, now=NOW, disk_free=lambda _: free)
    assert report.evicted == 7 and report.short_bytes == free - 7000
    assert store.all_ids() == set() and media_sizes(root) == {}


def test_the_real_disk_is_measured_by_default(store: EventStore, root: Path) -> None:
    add(store, root, ended(1))
    store.flush(5)
    enough = shutil.disk_usage(root).free >= GB
    assert RetentionPolicy().enforce(store, root, now=NOW).evicted == (0 if enough else 1)


def test_deleting_an_event_deletes_its_files(store: EventStore, root: Path) -> None:
    event = add(store, root, ended(1))
    store.flush(5)
    assert delete_event(store, root, event.id) is True
    assert store.get(event.id) is None and not on_disk(root, event)
    assert delete_event(store, root, event.id) is False
    assert delete_event(store, root, "../../etc/passwd") is False


def test_files_without_a_row_and_staged_files_are_swept(store: EventStore, root: Path) -> None:
    known = add(store, root, ended(1))
    orphan = ended(2)
    add(store, root, orphan)  # files written, row never committed: delete before flush
    store.delete(orphan.id).result(5)
    folder = event_paths(root, "front", known.id).clip.parent
    staged = folder / f".{known.id}.mp4-k2j3h4"  # a clip being written when the power went
    staged.write_bytes(b"partial")
    foreign = folder / "notes.txt"
    foreign.write_text("someone's file")
    assert sweep_orphans(root, store.all_ids()) == 3  # orphan's snapshot and clip, staged
    assert on_disk(root, known) and not on_disk(root, orphan)
    assert not staged.exists() and foreign.exists()
    assert sweep_orphans(root, store.all_ids()) == 0


@pytest.mark.parametrize(
    ("camera", "event_id"),
    [("..", "1.000000-abcdef"), ("front", "../1.000000-abcdef"), ("front", "1.000000-abcdef\n")],
)
def test_paths_cannot_escape_the_root(root: Path, camera: str, event_id: str) -> None:
    with pytest.raises(ValueError, match="not a safe"):
        event_paths(root, camera, event_id)
