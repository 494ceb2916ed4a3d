"""users.json: the people who sign in to the dashboard, each with a role and a password hash.

Kept like tokens.json (auth/tokens.py): mode 0600, written atomically under a lock, re-read
whenever it changes on disk, so `appliance user …` takes effect in a running service at its
next page or action. Hashes are argon2id strings (auth/passwords.py); nothing here hashes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loguru import logger

from appliance.auth.files import locked, write_private
from appliance.auth.scopes import Scope
from appliance.errors import ApplianceError, ConflictError, InvalidInputError, NotFoundError

USERS_FILE = "users.json"  # in the data dir
SCHEMA_VERSION = 1
_NAME = re.compile(r"^[\w.@+-]{1,64}$")


class UserStoreError(ApplianceError):
    """users.json exists but cannot be used: nobody signs in with a password until it is
    fixed (tokens still work)."""

    code = "user_store_invalid"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class LastAdminError(ConflictError):
    """Removing or demoting the last admin would leave no one to manage users in the
    dashboard."""

    code = "last_admin"


@dataclass(frozen=True)
class UserInfo:
    """What may be shown about a user: never the password or its hash."""

    name: str
    role: Scope
    created: float
    must_change: bool  # asked for a new password at the next sign-in


@dataclass(frozen=True)
class UserRecord:
    info: UserInfo
    password_hash: str
    # random, new with every password or role: sessions opened under another one have ended
    epoch: str


def new_epoch() -> str:
    return secrets.token_hex(8)


def valid_name(name: str) -> str:
    """A user name as stored: trimmed and lower-case (sign-in ignores case)."""
    name = name.strip().lower()
    if not _NAME.match(name):
        raise InvalidInputError("a user name is 1-64 letters, digits or . _ @ + - (no spaces)")
    return name


def parse_role(role: str | Scope) -> Scope:
    try:
        return Scope.parse(role)
    except InvalidInputError:
        names = ", ".join(s.label for s in Scope)
        raise InvalidInputError(f"unknown role {role!r}: one of {names}") from None


class UserStore:
    """The user file, re-read when it changes; every change is a read-modify-write under the
    file's lock, so the CLI and the service never lose each other's changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) last read
        self._records: dict[str, UserRecord] = {}

    def list(self) -> list[UserInfo]:
        """Every user, oldest first."""
        return sorted((r.info for r in self.current().values()), key=lambda i: i.created)

    def get(self, name: str) -> UserRecord | None:
        """The user and its hash; None when unknown, or when the file cannot be read (logged:
        password sign-in stops, tokens go on)."""
        try:
            return self.current().get(name.strip().lower())
        except UserStoreError:
            logger.exception("cannot read {}: refusing every password", self.path)
            return None

    def current(self) -> dict[str, UserRecord]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._records = None, {}
            return self._records
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)  # writes replace the file: a new inode
        if seen != self._seen:
            self._records = self._read()
            self._seen = seen
        return self._records

    def _read(self) -> dict[str, UserRecord]:
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(f"schema_version {raw.get('schema_version')!r} is not supported")
            records = {}
            for item in raw["users"]:
                info = UserInfo(
                    name=valid_name(str(item["name"])),
                    role=parse_role(item["role"]),
                    created=float(item["created"]),
                    must_change=bool(item.get("must_change", False)),
                )
                records[info.name] = UserRecord(
                    info, str(item["password"]), str(item.get("epoch", ""))
                )
            return records
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError, InvalidInputError) as exc:
            raise UserStoreError(f"{self.path} is invalid: {exc}") from None

    # -- changing ----------------------------------------------------------------------

    def add(self, name: str, role: Scope, password_hash: str, must_change: bool) -> UserInfo:
        name = valid_name(name)
        info = UserInfo(name, role, round(time.time(), 3), must_change)

        def add(records: dict[str, UserRecord]) -> None:
            if name in records:
                raise ConflictError(f"a user named {name!r} exists already")
            records[name] = UserRecord(info, password_hash, new_epoch())

        self._update(add)
        return info

    def add_if_empty(self, name: str, role: Scope, password_hash: str) -> UserInfo | None:
        """A first user (must change its password), atomically with the check that there is
        none: two processes starting at once make one, not two."""
        made: list[UserInfo] = []

        def add_first(records: dict[str, UserRecord]) -> bool:
            if records:
                return False
            info = UserInfo(valid_name(name), role, round(time.time(), 3), must_change=True)
            records[info.name] = UserRecord(info, password_hash, new_epoch())
            made.append(info)
            return True

        self._update(add_first)
        return made[0] if made else None

    def remove(self, name: str) -> UserInfo:
        return self._change(name, lambda record, records: None)

    def set_password(
        self, name: str, password_hash: str, must_change: bool, epoch: str
    ) -> UserInfo:
        def new_password(record: UserRecord, _: dict[str, UserRecord]) -> UserRecord:
            info = replace(record.info, must_change=must_change)
            return UserRecord(info, password_hash, epoch)

        return self._change(name, new_password)

    def set_role(self, name: str, role: Scope) -> UserInfo:
        def new_role(record: UserRecord, _: dict[str, UserRecord]) -> UserRecord:
            return UserRecord(replace(record.info, role=role), record.password_hash, new_epoch())

        return self._change(name, new_role)

    def _change(
        self,
        name: str,
        change: Callable[[UserRecord, dict[str, UserRecord]], UserRecord | None],
    ) -> UserInfo:
        """Replace (or, `change` answering None, remove) one user; refused when that leaves
        no admin while there was one."""
        key = name.strip().lower()
        result: list[UserInfo] = []

        def apply(records: dict[str, UserRecord]) -> None:
            record = records.get(key)
            if record is None:
                raise UserNotFoundError(f"no user named {key!r}")
            changed = change(record, records)
            had_admin = _admins(records)
            if changed is None:
                del records[key]
            else:
                records[key] = changed
            if had_admin and not _admins(records):
                raise LastAdminError(f"{key!r} is the last admin user: make another admin first")
            result.append((changed or record).info)

        self._update(apply)
        return result[0]

    def _update(self, change: Callable[[dict[str, UserRecord]], object]) -> None:
        """Read, change and write under the lock; `change` returning False writes nothing."""
        with locked(self.path):
            records = dict(self._read())
            if change(records) is not False:
                self._write(records)

    def _write(self, records: dict[str, UserRecord]) -> None:
        body = {
            "schema_version": SCHEMA_VERSION,
            "users": [
                {
                    "name": r.info.name,
                    "role": r.info.role.label,
                    "created": r.info.created,
                    "must_change": r.info.must_change,
                    "password": r.password_hash,
                    "epoch": r.epoch,
                }
                for r in sorted(records.values(), key=lambda r: r.info.created)
            ],
        }
        write_private(self.path, (json.dumps(body, indent=2) + "\n").encode())
        self._seen = None  # re-read (and re-stat) on the next use


def _admins(records: dict[str, UserRecord]) -> int:
    return sum(1 for r in records.values() if r.info.role is Scope.ADMIN)
