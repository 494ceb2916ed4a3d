"""Private files in the data dir: 0600, written atomically, owned like the data dir."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.durable import write_atomic


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600, atomically and durably, owned like its folder
    before it takes the old file's place."""
    make_folder(path.parent)
    write_atomic(path, data, mode=0o600, before_rename=_match_folder_owner)


def make_folder(folder: Path) -> None:
    """mkdir -p, a new folder owned like the one it is made in (see _match_folder_owner)."""
    if folder.is_dir():
        return
    make_folder(folder.parent)
    folder.mkdir(mode=0o700, exist_ok=True)
    _match_folder_owner(folder)


def _match_folder_owner(path: Path) -> None:
    """`sudo appliance token create --data-dir /var/lib/appliance` runs as root: hand the file
    to the data dir's owner, or the service (user appliance) could no longer read it."""
    if os.geteuid() != 0:
        return
    folder = path.parent.stat()
    os.chown(path, folder.st_uid, folder.st_gid)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` + ".lock", so the service and the CLI never lose each
    other's changes to a read-modify-write of `path`."""
    make_folder(path.parent)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _match_folder_owner(lock)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
