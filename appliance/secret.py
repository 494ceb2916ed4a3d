"""A random secret generated once per install and kept in the data dir (0600)."""

from __future__ import annotations

import secrets
from pathlib import Path

from appliance.durable import write_atomic


def load_or_create_secret(path: Path) -> str:
    """The secret in `path`, created on first use. Written to a temp file that is fsynced and
    renamed, so a crash never leaves a half-written (or empty) secret behind."""
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    write_atomic(path, (value + "\n").encode(), mode=0o600)
    return value
