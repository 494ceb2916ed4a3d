"""Private files in the data dir: 0600, written atomically, owned like the data dir."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600: a temp file in the same folder (mkstemp makes it
    0600), fsynced, renamed over the old one, then the folder fsynced so the rename survives a
    power cut. A crash at any point leaves the old file or the new one, never half of one."""
    make_folder(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _match_folder_owner(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


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
