"""users.json and admin.password: private files with argon2id hashes only, written atomically,
shared with the CLI; names, roles and password rules; the last admin; the first user; the
in-memory session table."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from appliance.auth.accounts import Accounts
from appliance.auth.passwords import WeakPasswordError
from appliance.auth.scopes import Scope, user_principal
from appliance.auth.sessions import SessionStore, local_path
from appliance.auth.users import LastAdminError, UserNotFoundError, UserStoreError
from appliance.errors import ConflictError, InvalidInputError
from appliance.services.auth import AuthService

PASSWORD = "correct horse"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_is_private_versioned_and_holds_an_argon2id_hash_only(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    info = accounts.add("Alice", "operator", PASSWORD)
    assert (info.name, info.role, info.must_change) == ("alice", Scope.OPERATOR, False)
    text = accounts.store.path.read_text()
    assert PASSWORD not in text
    assert mode(accounts.store.path) == 0o600
    body = json.loads(text)
    assert body["schema_version"] == 1
    (row,) = body["users"]
    assert row.keys() == {"name", "role", "created", "must_change", "password", "epoch"}
    assert row["password"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    PasswordHasher().verify(row["password"], PASSWORD)  # a standard argon2id string
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_password_checks_only_for_its_user(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add("alice", "viewer", PASSWORD)
    accounts.add("bob", "admin", "another one")
    assert accounts.check_password("ALICE ", PASSWORD).name == "alice"  # names ignore case
    assert accounts.check_password("alice", PASSWORD + " ") is None
    assert accounts.check_password("bob", PASSWORD) is None
    assert accounts.check_password("nobody", PASSWORD) is None
    assert accounts.check_password("alice", "x" * 10_000) is None


def test_a_new_password_or_role_and_removal(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add("root", "admin", "admin password")
    accounts.add("alice", "viewer", PASSWORD)
    epoch = accounts.current("alice")[1]
    accounts.change_password("alice", "a new password", must_change=True)
    assert accounts.check_password("alice", PASSWORD) is None
    assert accounts.check_password("alice", "a new password").must_change is True
    assert accounts.current("alice")[1] != epoch
    epoch = accounts.current("alice")[1]
    assert accounts.set_role("alice", "operator").role is Scope.OPERATOR
    assert accounts.current("alice")[1] != epoch
    assert accounts.remove("alice").name == "alice"
    assert [u.name for u in accounts.list()] == ["root"]
    for change in (
        lambda: accounts.remove("alice"),
        lambda: accounts.change_password("alice", PASSWORD),
        lambda: accounts.set_role("alice", "viewer"),
    ):
        with pytest.raises(UserNotFoundError):
            change()


def test_listing_never_shows_a_password_or_hash(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add("alice", "viewer", PASSWORD)
    (info,) = accounts.list()
    assert set(vars(info)) == {"name", "role", "created", "must_change"}
    assert PASSWORD not in repr(info) and "argon2" not in repr(info)


@pytest.mark.parametrize("name", ["", " ", "a b", "a/b", "x" * 65, "new\nline", "a:b"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError, match="user name is 1-64"):
        Accounts(tmp_path).add(name, "viewer", PASSWORD)


def test_short_passwords_unknown_roles_and_duplicates_are_refused(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    with pytest.raises(WeakPasswordError, match="at least 8 characters"):
        accounts.add("alice", "viewer", "short")
    with pytest.raises(InvalidInputError, match="unknown role 'root': one of viewer"):
        accounts.add("alice", "root", PASSWORD)
    accounts.add("alice", "viewer", PASSWORD)
    with pytest.raises(ConflictError, match="exists already"):
        accounts.add("Alice", "admin", PASSWORD)
    with pytest.raises(WeakPasswordError):
        accounts.change_password("alice", "1234567")
    assert accounts.check_password("alice", PASSWORD) is not None  # unchanged


def test_the_last_admin_is_neither_removed_nor_demoted(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add("root", "admin", PASSWORD)
    with pytest.raises(LastAdminError, match="last admin"):
        accounts.remove("root")
    with pytest.raises(LastAdminError):
        accounts.set_role("root", "operator")
    accounts.add("second", "admin", PASSWORD)
    accounts.set_role("root", "viewer")  # another admin is left
    with pytest.raises(LastAdminError):
        accounts.remove("second")
    assert {u.name: u.role for u in accounts.list()} == {
        "root": Scope.VIEWER,
        "second": Scope.ADMIN,
    }


def test_another_process_changes_are_seen_at_once(tmp_path: Path) -> None:
    """The service re-reads users.json when the CLI replaced it."""
    service, cli = Accounts(tmp_path), Accounts(tmp_path)
    cli.add("alice", "viewer", PASSWORD)
    assert service.check_password("alice", PASSWORD) is not None
    cli.change_password("alice", "changed elsewhere")
    assert service.check_password("alice", PASSWORD) is None
    cli.add("bob", "admin", PASSWORD)
    cli.remove("alice")
    assert [u.name for u in service.list()] == ["bob"]


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    def add_three(who: int) -> None:
        accounts = Accounts(tmp_path)  # one per "process"
        for n in range(3):
            accounts.add(f"w{who}-{n}", "viewer", PASSWORD)

    workers = [threading.Thread(target=add_three, args=(who,)) for who in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(Accounts(tmp_path).list()) == 9


def test_a_broken_file_refuses_passwords_and_says_why(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.store.path.write_text('{"schema_version": 7, "users": []}')
    assert accounts.check_password("alice", PASSWORD) is None
    with pytest.raises(UserStoreError, match="schema_version 7"):
        accounts.list()


def test_the_first_user_and_its_password_file(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    made = accounts.ensure_initial()
    assert made is not None and (made.name, made.role, made.must_change) == (
        "admin",
        Scope.ADMIN,
        True,
    )
    password = accounts.read_initial()
    assert password and len(password) >= 16
    assert mode(accounts.initial_path) == 0o600
    assert accounts.check_password("admin", password) is not None
    assert password not in accounts.store.path.read_text()
    assert accounts.ensure_initial() is None  # once: there is a user now
    accounts.change_password("admin", "mine, not the first")
    assert not accounts.initial_path.exists()  # changing it deletes the file
    assert accounts.check_password("admin", "mine, not the first").must_change is False


def test_sessions_expire_end_and_stay_bounded() -> None:
    now = [1000.0]
    store = SessionStore(ttl_s=60, max_sessions=3, clock=lambda: now[0])
    first = store.open("user:alice", "epoch")
    assert store.get(first.id).subject == "user:alice"
    assert first.id not in repr(store._sessions)  # kept by digest only
    cookie = first.cookie(secure=False, now=now[0])
    assert cookie["httponly"] and cookie["samesite"] == "strict" and cookie["max_age"] == 60
    now[0] += 60
    assert store.get(first.id) is None  # expired
    second = store.open("abcd1234")
    assert store.end(second.id) and store.get(second.id) is None
    opened = [store.open(f"t{n}") for n in range(4)]
    assert len(store) == 3 and store.get(opened[0].id) is None  # the oldest went


def test_a_session_ends_with_a_new_password_or_role_or_removal(tmp_path: Path) -> None:
    auth = AuthService(tmp_path)
    auth.add_user("root", "admin", PASSWORD)
    auth.add_user("alice", "operator", PASSWORD)
    principal = auth.check_password("alice", PASSWORD)
    assert principal == user_principal("alice", Scope.OPERATOR)
    first, second = auth.open_session(principal), auth.open_session(principal)
    assert auth.session(first.id).principal.scope is Scope.OPERATOR
    auth.change_password("alice", "alice's own", keep_session=first.id)
    assert auth.session(first.id) is not None  # the one that changed it goes on
    assert auth.session(second.id) is None  # every other one ended
    auth.set_role("alice", "viewer")
    assert auth.session(first.id) is None
    auth.set_role("alice", "operator")  # back as it was: what ended stays ended
    assert auth.session(first.id) is None
    third = auth.open_session(auth.check_password("alice", "alice's own"))
    auth.remove_user("alice")
    assert auth.session(third.id) is None


def test_an_admin_resetting_another_password_keeps_only_their_own_session(
    tmp_path: Path,
) -> None:
    auth = AuthService(tmp_path)
    auth.add_user("root", "admin", PASSWORD)
    auth.add_user("alice", "viewer", PASSWORD)
    admin = auth.open_session(auth.check_password("root", PASSWORD))
    alice = auth.open_session(auth.check_password("alice", PASSWORD))
    auth.change_password("alice", "reset by root", must_change=True, keep_session=admin.id)
    assert auth.session(admin.id) is not None
    assert auth.session(alice.id) is None
    again = auth.open_session(auth.check_password("alice", "reset by root"))
    assert auth.session(again.id).must_change is True


def test_a_token_session_ends_when_the_token_is_revoked(tmp_path: Path) -> None:
    auth = AuthService(tmp_path)
    issued = auth.create("wall", "viewer")
    session = auth.open_session(auth.verify(issued.token))
    assert auth.session(session.id).principal.token_id == issued.info.id
    auth.revoke(issued.info.id)
    assert auth.session(session.id) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cameras?x=1", "/cameras?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_sign_in_goes_on_only_to_local_paths(target: str, expected: str) -> None:
    assert local_path(target) == expected


def test_a_user_changing_their_own_password_is_never_signed_out_meanwhile(tmp_path: Path):
    """Its session takes the new epoch before the change is written: a page or action
    looking it up at any moment finds it valid (another session of the user ends)."""
    auth = AuthService(tmp_path)
    auth.add_user("root", "admin", PASSWORD)
    own = auth.open_session(auth.check_password("root", PASSWORD))
    other = auth.open_session(auth.check_password("root", PASSWORD))
    seen: list[bool] = []
    stop = threading.Event()

    def look() -> None:
        while not stop.is_set():
            seen.append(auth.session(own.id) is not None)

    watcher = threading.Thread(target=look)
    watcher.start()
    try:
        for n in range(3):
            auth.change_password("root", f"new password {n}", keep_session=own.id)
    finally:
        stop.set()
        watcher.join()
    assert seen and all(seen)
    assert auth.session(own.id) is not None and auth.session(other.id) is None
    with pytest.raises(WeakPasswordError):  # refused: the session keeps its epoch
        auth.change_password("root", "short", keep_session=own.id)
    assert auth.session(own.id) is not None
