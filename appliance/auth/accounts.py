"""Accounts: every change to the dashboard's users and every password check goes through
one method here, whoever asks (the service's dashboard and sign-in route, or the CLI on the
data dir), so a rule or an audit line added to a method holds for all of them.

The first start with no users makes `admin` with a random password, kept in clear in
admin.password (0600) so that `appliance user show-initial` can print it; the user must
change it at its first sign-in, and changing it (or removing `admin`) deletes that file.
Hashing blocks for tens of milliseconds: call these off the event loop.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from appliance.auth.files import write_private
from appliance.auth.passwords import check_strength, hash_password, verify_password
from appliance.auth.scopes import Scope
from appliance.auth.users import (
    USERS_FILE,
    UserInfo,
    UserStore,
    new_epoch,
    parse_role,
    valid_name,
)

INITIAL_PASSWORD_FILE = "admin.password"
INITIAL_USER = "admin"


class Accounts:
    def __init__(self, data_dir: Path) -> None:
        self.store = UserStore(data_dir / USERS_FILE)
        self.initial_path = data_dir / INITIAL_PASSWORD_FILE

    # -- reading -----------------------------------------------------------------------

    def list(self) -> list[UserInfo]:
        return self.store.list()

    def get(self, name: str) -> UserInfo | None:
        record = self.store.get(name)
        return record.info if record is not None else None

    def current(self, name: str) -> tuple[UserInfo, str] | None:
        """The user and its epoch, which is new with every password or role: a session
        remembers the epoch and ends when it no longer matches. None: no such user."""
        record = self.store.get(name)
        return (record.info, record.epoch) if record is not None else None

    def check_password(self, name: str, password: str) -> UserInfo | None:
        """The user when `password` is theirs; None for a wrong password and an unknown name
        alike (which take as long). The only place a password is checked."""
        record = self.store.get(name)
        stored = record.password_hash if record is not None else None
        if not verify_password(stored, password) or record is None:
            return None
        return record.info

    # -- changing ----------------------------------------------------------------------

    def add(
        self, name: str, role: Scope | str, password: str, must_change: bool = False
    ) -> UserInfo:
        name, scope = valid_name(name), parse_role(role)
        return self.store.add(name, scope, hash_password(check_strength(password)), must_change)

    def remove(self, name: str) -> UserInfo:
        info = self.store.remove(name)
        self._forget_initial(info.name)
        return info

    def change_password(
        self, name: str, password: str, must_change: bool = False, epoch: str | None = None
    ) -> UserInfo:
        """A new password (and epoch: the user's sessions end); `must_change` asks for
        another at the next sign-in (an admin resetting someone else's)."""
        hashed = hash_password(check_strength(password))
        info = self.store.set_password(name, hashed, must_change, epoch or new_epoch())
        self._forget_initial(info.name)
        return info

    def set_role(self, name: str, role: Scope | str) -> UserInfo:
        return self.store.set_role(name, parse_role(role))

    # -- the first user ----------------------------------------------------------------

    def ensure_initial(self) -> UserInfo | None:
        """Make `admin` with a random password when there is no user; None when there are
        some. The password goes to admin.password only."""
        if self.store.list():
            return None  # the common start: no hash made
        password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
        info = self.store.add_if_empty(INITIAL_USER, Scope.ADMIN, hash_password(password))
        if info is not None:
            write_private(self.initial_path, (password + "\n").encode())
        return info

    def read_initial(self) -> str | None:
        """The first admin password while admin.password holds it."""
        try:
            return self.initial_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _forget_initial(self, name: str) -> None:
        if name == INITIAL_USER:
            self.initial_path.unlink(missing_ok=True)
