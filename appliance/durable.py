"""Whole-file writes that survive a crash or a power cut: the old file or the new one, never
half of one. Shared by the config store, the auth files, the install secret and engine builds."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    prefix: str | None = None,
    before_rename: Callable[[Path], None] | None = None,
) -> None:
    """Write `data` to a temp file beside `path` (named `prefix` + random, so a sweep can
    find leftovers), fsync it, rename it over `path`, then fsync the folder so the rename
    itself is durable. `before_rename` gets the finished temp file (e.g. to chown it)."""
    fd, name = tempfile.mkstemp(prefix=prefix or f".{path.name}-", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
