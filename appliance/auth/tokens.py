"""tokens.json: bearer tokens kept as hashes, with a name and a scope each.

A token reads `apl_<id>_<secret>`: the id finds the entry, the secret proves it. Secrets are
256 random bits, so a plain SHA-256 is enough (a slow password hash protects guessable
secrets; these are not guessable) and verification costs microseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from appliance.auth.files import locked, write_private
from appliance.auth.scopes import Principal, Scope
from appliance.errors import ApplianceError, InvalidInputError, NotFoundError

TOKENS_FILE = "tokens.json"  # in the data dir
SCHEMA_VERSION = 1
PREFIX = "apl"
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{32,128}})$")
_NAME = re.compile(r"^[\w .@:+-]{1,64}$")


class TokenStoreError(ApplianceError):
    """tokens.json exists but cannot be used: the service refuses to start rather than run
    with no way to check anyone."""

    code = "token_store_invalid"


class TokenNotFoundError(NotFoundError):
    code = "token_not_found"


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never its secret or hash."""

    id: str
    name: str
    scope: Scope
    created: float


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `token` is the only copy of its secret (it is stored hashed)."""

    info: TokenInfo
    token: str


@dataclass(frozen=True)
class _Entry:
    info: TokenInfo
    digest: str  # sha256 hex of the secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else None."""
    match = _TOKEN.match(token.strip())
    return match.group(1) if match else None


class TokenStore:
    """The token file, re-read whenever it changes on disk (the CLI may add or revoke tokens
    while the service runs: a revoked token stops working at its next request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) last read
        self._entries: dict[str, _Entry] = {}

    # -- reading -----------------------------------------------------------------------

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        return sorted((e.info for e in self._current().values()), key=lambda i: i.created)

    def verify(self, token: str) -> Principal | None:
        """Who `token` stands for, or None when it is malformed, unknown or revoked."""
        match = _TOKEN.match(token.strip())
        if match is None:
            return None
        token_id, secret = match.groups()
        try:
            entry = self._current().get(token_id)
        except TokenStoreError:
            logger.exception("cannot read {}: refusing every token", self.path)
            return None
        # compare_digest: the time taken says nothing about how much of the hash matched
        if entry is None or not hmac.compare_digest(_digest(secret), entry.digest):
            return None
        return Principal(token_id=entry.info.id, name=entry.info.name, scope=entry.info.scope)

    def _current(self) -> dict[str, _Entry]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._entries = None, {}
            return self._entries
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)  # writes replace the file: a new inode
        if seen != self._seen:
            self._entries = self._read()
            self._seen = seen
        return self._entries

    def _read(self) -> dict[str, _Entry]:
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(f"schema_version {raw.get('schema_version')!r} is not supported")
            entries = {}
            for item in raw["tokens"]:
                info = TokenInfo(
                    id=str(item["id"]),
                    name=str(item["name"]),
                    scope=Scope.parse(item["scope"]),
                    created=float(item["created"]),
                )
                entries[info.id] = _Entry(info, str(item["sha256"]))
            return entries
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError, InvalidInputError) as exc:
            raise TokenStoreError(f"{self.path} is invalid: {exc}") from None

    # -- changing ----------------------------------------------------------------------

    def create(self, name: str, scope: Scope | str) -> IssuedToken:
        """A new token; the returned `token` is the only time its secret exists in clear."""
        name, scope = _valid_name(name), Scope.parse(scope)
        issued: list[IssuedToken] = []
        self._update(lambda entries: issued.append(_add(entries, name, scope)))
        return issued[0]

    def revoke(self, token_id: str) -> TokenInfo:
        """Remove a token by id (a whole token is accepted too); TokenNotFoundError if none."""
        token_id = token_id_of(token_id) or token_id.strip()
        removed: list[TokenInfo] = []

        def remove(entries: dict[str, _Entry]) -> None:
            entry = entries.pop(token_id, None)
            if entry is None:
                raise TokenNotFoundError(f"no token with id {token_id!r}")
            removed.append(entry.info)

        self._update(remove)
        return removed[0]

    def create_if_empty(self, name: str, scope: Scope) -> IssuedToken | None:
        """A first token, atomically with the check that there is none (two processes
        starting at once make one, not two)."""
        issued: list[IssuedToken] = []

        def add_first(entries: dict[str, _Entry]) -> bool:
            if entries:
                return False
            issued.append(_add(entries, _valid_name(name), scope))
            return True

        self._update(add_first)
        return issued[0] if issued else None

    def _update(self, change: Callable[[dict[str, _Entry]], object]) -> None:
        """Read, change and write under the lock; `change` returning False writes nothing."""
        with locked(self.path):
            entries = dict(self._read())
            if change(entries) is not False:
                self._write(entries)

    def _write(self, entries: dict[str, _Entry]) -> None:
        body = {
            "schema_version": SCHEMA_VERSION,
            "tokens": [
                {
                    "id": e.info.id,
                    "name": e.info.name,
                    "scope": e.info.scope.label,
                    "created": e.info.created,
                    "sha256": e.digest,
                }
                for e in sorted(entries.values(), key=lambda e: e.info.created)
            ],
        }
        write_private(self.path, (json.dumps(body, indent=2) + "\n").encode())
        self._seen = None  # re-read (and re-stat) on the next use


def _valid_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidInputError("a token name is 1-64 letters, digits, spaces or . _ @ : + -")
    return name


def _add(entries: dict[str, _Entry], name: str, scope: Scope) -> IssuedToken:
    token_id = secrets.token_hex(4)
    while token_id in entries:
        token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    info = TokenInfo(id=token_id, name=name, scope=scope, created=round(time.time(), 3))
    entries[token_id] = _Entry(info, _digest(secret))
    return IssuedToken(info, f"{PREFIX}_{token_id}_{secret}")
