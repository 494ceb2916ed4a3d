"""`appliance user …`: the dashboard's users, on the data dir directly, with or without the
service running (it re-reads users.json when it changes). Passwords are read with getpass
(twice) or, for scripts, one line from stdin; never from the command line, never printed
(but by `show-initial`, which prints the first admin password while its file exists)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path

from appliance.auth.accounts import INITIAL_USER, Accounts
from appliance.auth.audit import audit
from appliance.auth.commands import cli_client
from appliance.auth.scopes import Scope
from appliance.errors import InvalidInputError

ROLES = [s.label for s in Scope]


def add_user_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    user = commands.add_parser(
        "user", help="dashboard users: add, change a password or role, list, remove"
    ).add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user.add_parser("add", help="add a user (asks for the password twice)")
    add.add_argument("name", help="1-64 letters, digits or . _ @ + - (sign-in ignores case)")
    add.add_argument("--role", required=True, choices=ROLES)
    passwd = user.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("name")
    for parser in (add, passwd):
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        parser.add_argument(
            "--must-change", action="store_true", help="ask for a new one at the next sign-in"
        )
    role = user.add_parser("role", help="change a user's role (their sessions end)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    listing = user.add_parser("list", help="users by name, role and creation time")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    remove = user.add_parser("remove", help="remove a user (their sessions end at once)")
    remove.add_argument("name")
    initial = user.add_parser(
        "show-initial", help="print the first admin password (from admin.password)"
    )
    for parser in (add, passwd, role, listing, remove, initial):
        parser.add_argument(
            "--data-dir", type=Path, help="state folder (default as `appliance serve`)"
        )


def run_user_command(args: argparse.Namespace, data_dir: Path) -> int:
    accounts = Accounts(data_dir)
    command = args.user_command
    if command == "add":
        info = accounts.add(args.name, args.role, _password(args), args.must_change)
        print(f"added user {info.name} ({info.role.label})")
    elif command == "passwd":
        info = accounts.change_password(args.name, _password(args), args.must_change)
        print(f"new password for {info.name}; their sessions have ended")
    elif command == "role":
        info = accounts.set_role(args.name, args.role)
        print(f"{info.name} is now {info.role.label}; their sessions have ended")
    elif command == "remove":
        info = accounts.remove(args.name)
        print(f"removed user {info.name} ({info.role.label})")
    if command in ("add", "passwd", "role", "remove"):
        audit(f"user.{command}", outcome="ok", client=cli_client(), target=info.name)
    if command == "list":
        _list(accounts, as_json=args.json)
    elif command == "show-initial":
        return _show_initial(accounts)
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise InvalidInputError("the two passwords differ")
    return first


def _list(accounts: Accounts, as_json: bool) -> None:
    users = accounts.list()
    if as_json:
        rows = [
            {
                "name": u.name,
                "role": u.role.label,
                "created": u.created,
                "must_change": u.must_change,
            }
            for u in users
        ]
        print(json.dumps(rows, indent=2))
        return
    if not users:
        print("no users", file=sys.stderr)
        return
    print(f"{'NAME':<24}{'ROLE':<10}{'CREATED':<21}MUST CHANGE")
    for u in users:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(u.created))
        print(f"{u.name:<24}{u.role.label:<10}{created:<21}{'yes' if u.must_change else 'no'}")


def _show_initial(accounts: Accounts) -> int:
    password = accounts.read_initial()
    if password is None:
        print(
            f"no initial password in {accounts.initial_path}: it was changed (or the service "
            "has not started yet with authentication on). Set one with `appliance user "
            f"passwd {INITIAL_USER}`.",
            file=sys.stderr,
        )
        return 1
    if accounts.check_password(INITIAL_USER, password) is None:
        print(f"the password in {accounts.initial_path} no longer works", file=sys.stderr)
        return 1
    print(password)
    print(
        f"(sign in as {INITIAL_USER!r} with it; the dashboard then asks for a new one)",
        file=sys.stderr,
    )
    return 0
