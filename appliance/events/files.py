"""Where an event's files live, derived from (camera, id) in one place:
`<root>/snapshots/<camera>/<id>.jpg` and `<root>/clips/<camera>/<id>.mp4`, `root` being
`<data_dir>/events`. Writers stage files under names starting with "." (as
`appliance.durable.write_atomic` does), so anything dotted is a leftover once nothing runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.events.model import CAMERA_ID, EVENT_ID

MEDIA_FOLDERS = ("snapshots", "clips")


@dataclass(frozen=True)
class EventPaths:
    snapshot: Path
    clip: Path

    def all(self) -> tuple[Path, Path]:
        return (self.snapshot, self.clip)


def event_paths(root: Path, camera: str, event_id: str) -> EventPaths:
    """The paths of one event's files; ids that could escape `root` are refused."""
    if not CAMERA_ID.fullmatch(camera) or not EVENT_ID.fullmatch(event_id):
        raise ValueError(f"not a safe camera/event id: {camera!r}/{event_id!r}")
    return EventPaths(
        snapshot=root / "snapshots" / camera / f"{event_id}.jpg",
        clip=root / "clips" / camera / f"{event_id}.mp4",
    )


def delete_files(root: Path, camera: str, event_id: str) -> int:
    """Remove an event's files (those that exist); the bytes they held."""
    freed = 0
    for path in event_paths(root, camera, event_id).all():
        try:
            freed += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass
    return freed


def event_id_of(path: Path) -> str | None:
    """The event a media file belongs to (`<id>.<ext>`), or None for any other name."""
    stem = path.name.rpartition(".")[0]
    return stem if EVENT_ID.fullmatch(stem) else None


def media_files(root: Path) -> Iterator[Path]:
    """Every plain file in the per-camera media folders (one level, as event_paths makes them)."""
    for folder in MEDIA_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for camera in base.iterdir():
            if camera.is_dir() and not camera.is_symlink():
                yield from (p for p in camera.iterdir() if p.is_file() and not p.is_symlink())


def media_sizes(root: Path) -> dict[str, int]:
    """Bytes on disk per event id (snapshot + clip), for the disk cap."""
    sizes: dict[str, int] = {}
    for path in media_files(root):
        event_id = event_id_of(path)
        if event_id is None:
            continue
        with contextlib.suppress(FileNotFoundError):  # deleted since it was listed
            sizes[event_id] = sizes.get(event_id, 0) + path.stat().st_size
    return sizes


def sweep_orphans(root: Path, known_ids: set[str]) -> int:
    """At start, before anything records: delete media whose event has no row (a crash between
    deleting a row and its files, or a clip finished for a deleted event) and staged temp files.
    Files with other names are not ours to delete and stay. Returns how many were deleted."""
    removed = 0
    for path in media_files(root):
        event_id = event_id_of(path)
        leftover = path.name.startswith(".")
        if leftover or (event_id is not None and event_id not in known_ids):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
