"""`appliance user …` on a data dir (no service): add, list, passwd, role, remove and
show-initial, with their refusals; no password or hash is ever printed by a listing."""

from __future__ import annotations

import getpass
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from appliance.auth.accounts import Accounts
from appliance.cli import main


def run(
    capsys: pytest.CaptureFixture[str], data: Path, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["user", *args, "--data-dir", str(data)])
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_passwd_role_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "data"
    code, out, _ = run(
        capsys, data, "add", "Alice", "--role", "operator", "--password-stdin", stdin="pw alice 1\n"
    )
    assert (code, out.strip()) == (0, "added user alice (operator)")
    run(capsys, data, "add", "root", "--role", "admin", "--password-stdin", stdin="pw root 12")
    accounts = Accounts(data)
    assert accounts.check_password("alice", "pw alice 1") is not None  # the newline is not part

    code, out, _ = run(capsys, data, "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "ROLE", "CREATED", "MUST", "CHANGE"]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["alice", "operator"],
        ["root", "admin"],
    ]
    code, out, _ = run(capsys, data, "list", "--json")
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"name", "role", "created", "must_change"}] * 2
    assert "pw alice" not in out and "argon2" not in out

    code, out, _ = run(
        capsys, data, "passwd", "alice", "--password-stdin", "--must-change", stdin="pw alice 2"
    )
    assert code == 0 and "sessions have ended" in out
    assert accounts.check_password("alice", "pw alice 1") is None
    assert accounts.check_password("alice", "pw alice 2").must_change is True

    code, out, _ = run(capsys, data, "role", "alice", "viewer")
    assert (code, out.split(";")[0]) == (0, "alice is now viewer")
    code, out, _ = run(capsys, data, "remove", "ALICE")
    assert (code, out.strip()) == (0, "removed user alice (viewer)")
    assert [u.name for u in accounts.list()] == ["root"]


def test_refusals_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "data"
    code, _, err = run(
        capsys, data, "add", "bob", "--role", "admin", "--password-stdin", stdin="short"
    )
    assert code == 1 and "at least 8 characters" in err
    code, _, err = run(
        capsys, data, "add", "a b", "--role", "admin", "--password-stdin", stdin="x" * 9
    )
    assert code == 1 and "user name is 1-64" in err
    run(capsys, data, "add", "bob", "--role", "admin", "--password-stdin", stdin="long enough")
    code, _, err = run(capsys, data, "remove", "bob")
    assert code == 1 and "last admin" in err
    code, _, err = run(capsys, data, "role", "bob", "viewer")
    assert code == 1 and "last admin" in err
    code, _, err = run(capsys, data, "remove", "nobody")
    assert code == 1 and "no user named 'nobody'" in err
    code, _, err = run(capsys, data, "show-initial")
    assert code == 1 and "no initial password" in err


def test_add_asks_for_the_password_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "data"
    typed = iter(["first try 1", "first try 2", "same twice", "same twice"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(typed))  # the terminal
    code, _, err = run(capsys, data, "add", "carol", "--role", "viewer")
    assert code == 1 and "differ" in err
    code, _, _ = run(capsys, data, "add", "carol", "--role", "viewer")
    assert code == 0 and Accounts(data).check_password("carol", "same twice") is not None


def test_show_initial_prints_the_first_password_until_it_is_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = tmp_path / "data"
    accounts = Accounts(data)
    accounts.ensure_initial()
    code, out, err = run(capsys, data, "show-initial")
    assert code == 0 and out.strip() == accounts.read_initial()
    assert "asks for a new one" in err
    run(capsys, data, "passwd", "admin", "--password-stdin", stdin="the admin's own")
    code, out, err = run(capsys, data, "show-initial")
    assert (code, out) == (1, "") and "no initial password" in err


def test_the_console_script_has_the_user_commands(tmp_path: Path):
    """The real entry point, as an administrator types it."""
    command = [sys.executable, "-m", "appliance", "user", "add", "dan", "--role", "viewer"]
    done = subprocess.run(
        [*command, "--password-stdin", "--data-dir", str(tmp_path)],
        cwd=ROOT, input="dan's password\n", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Accounts(tmp_path).check_password("dan", "dan's password") is not None
    # the change is audited (journald with systemd-python, else stderr), never the password
    assert "audit user.add outcome=ok client=cli:" in done.stderr and "target=dan" in done.stderr
    assert "dan's password" not in done.stderr
