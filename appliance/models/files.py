"""Durable file writes shared by the model repository and the engine cache: a file or a
folder appears whole or not at all, even across a power cut."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from appliance.durable import fsync_dir

__all__ = ["fsync_dir", "fsync_file", "sha256_of", "write_atomic"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, fsync it, then rename it over `path`."""
    temporary = path.with_name(path.name + ".part")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
