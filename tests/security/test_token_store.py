"""tokens.json and admin.token: private files, hashes only, atomic and shared safely with the
CLI; the first admin token; scopes."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from loguru import logger

from appliance.auth.scopes import AUTH_OFF, Principal, Scope
from appliance.auth.tokens import TokenStore, TokenStoreError
from appliance.errors import InvalidInputError, NotFoundError
from appliance.services.auth import AuthService


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_is_private_versioned_and_holds_no_token(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    issued = store.create("nvr 1", "operator")
    secret = issued.token.split("_", 2)[2]
    text = store.path.read_text()
    assert issued.token not in text and secret not in text
    assert mode(store.path) == 0o600
    body = json.loads(text)
    assert body["schema_version"] == 1
    assert body["tokens"][0].keys() == {"id", "name", "scope", "created", "sha256"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_token_verifies_until_it_is_revoked(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    issued = store.create("ci", Scope.VIEWER)
    assert issued.token.startswith(f"apl_{issued.info.id}_")
    assert store.verify(issued.token) == Principal(issued.info.id, "ci", Scope.VIEWER)
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    assert store.verify(tampered) is None
    assert store.verify("apl_nothex00_" + "x" * 43) is None
    store.revoke(issued.info.id)
    assert store.verify(issued.token) is None
    with pytest.raises(NotFoundError):
        store.revoke(issued.info.id)


def test_another_process_changes_are_seen_at_once(tmp_path: Path) -> None:
    """The service re-reads the file when the CLI replaced it: no restart to revoke."""
    service, cli = TokenStore(tmp_path / "tokens.json"), TokenStore(tmp_path / "tokens.json")
    issued = cli.create("phone", "viewer")
    assert service.verify(issued.token) is not None
    cli.revoke(issued.info.id)
    assert service.verify(issued.token) is None


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    def add_five(who: int) -> None:
        store = TokenStore(tmp_path / "tokens.json")  # one per "process"
        for n in range(5):
            store.create(f"w{who}-{n}", "viewer")

    workers = [threading.Thread(target=add_five, args=(who,)) for who in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(TokenStore(tmp_path / "tokens.json").list()) == 20


@pytest.mark.parametrize("name", ["", " ", "a/b", "x" * 65, "new\nline"])
def test_bad_names_and_scopes_are_refused(tmp_path: Path, name: str) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(InvalidInputError):
        store.create(name, "viewer")
    with pytest.raises(InvalidInputError):
        store.create("fine", "root")


@pytest.mark.parametrize(
    "content", ["{", "[]", '{"schema_version": 2, "tokens": []}', '{"schema_version": 1}']
)
def test_an_unusable_file_fails_closed(tmp_path: Path, content: str) -> None:
    """Every token refused and no start, rather than a service that lets anyone in."""
    store = TokenStore(tmp_path / "tokens.json")
    issued = store.create("admin", "admin")
    store.path.write_text(content)
    assert store.verify(issued.token) is None
    with pytest.raises(TokenStoreError):
        AuthService(tmp_path).start()


def test_first_start_makes_one_admin_token_and_never_logs_it(tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        auth = AuthService(tmp_path)
        auth.start()
        auth.start()  # a restart makes no second one
    finally:
        logger.remove(sink)
    token = (tmp_path / "admin.token").read_text().strip()
    assert mode(tmp_path / "admin.token") == 0o600
    principal = auth.verify(token)
    assert principal is not None and principal.scope is Scope.ADMIN
    assert len(auth.list()) == 1
    said = "".join(lines)
    assert "appliance token show" in said and token not in said
    assert token.split("_", 2)[2] not in said


def test_revoking_the_initial_token_removes_its_file(tmp_path: Path) -> None:
    auth = AuthService(tmp_path)
    auth.start()
    initial = auth.list()[0]
    auth.revoke(initial.id)
    assert not (tmp_path / "admin.token").exists()
    auth.start()  # no token left at all: the next start makes a new first admin token
    assert (tmp_path / "admin.token").exists() and len(auth.list()) == 1


def test_auth_off_writes_nothing_and_allows_everything(tmp_path: Path) -> None:
    auth = AuthService(tmp_path, enabled=False)
    auth.start()
    assert list(tmp_path.iterdir()) == []
    assert auth.allows(None, "admin") and not auth.enabled
    assert AUTH_OFF.allows(Scope.ADMIN)


def test_scopes_are_ordered() -> None:
    viewer = Principal("v", "v", Scope.VIEWER)
    operator = Principal("o", "o", Scope.OPERATOR)
    auth = AuthService.disabled()
    auth.enabled = True
    assert auth.allows(operator, "viewer") and auth.allows(operator, Scope.OPERATOR)
    assert not auth.allows(operator, "admin") and not auth.allows(viewer, "operator")
    assert not auth.allows(None, "viewer")
    assert [s.label for s in sorted(Scope)] == ["viewer", "operator", "admin"]
