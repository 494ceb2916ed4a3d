"""`appliance token …` and `appliance tls self-signed`: work on the data dir directly, with
or without the service running (it re-reads tokens.json when it changes)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path

from appliance.auth.audit import audit
from appliance.auth.initial import INITIAL_TOKEN_FILE, read_initial, revoke
from appliance.auth.scopes import Scope
from appliance.auth.tls import default_hosts, make_self_signed
from appliance.auth.tokens import TOKENS_FILE, TokenStore


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def data_dir_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, help="state folder (default as `appliance serve`)"
        )

    token = commands.add_parser(
        "token", help="API tokens: show the first admin token, create, list, revoke"
    ).add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    show = token.add_parser("show", help="print the initial admin token (from admin.token)")
    create = token.add_parser("create", help="make a token and print it (shown only once)")
    create.add_argument("--name", required=True, help="who or what uses it, e.g. nvr-1")
    create.add_argument("--scope", required=True, choices=[s.label for s in Scope])
    listing = token.add_parser("list", help="tokens by id, scope, creation time and name")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    remove = token.add_parser("revoke", help="revoke a token by id (it stops working at once)")
    remove.add_argument("id", help="the id from `appliance token list` (or the token itself)")
    for parser in (show, create, listing, remove):
        data_dir_option(parser)

    tls = commands.add_parser("tls", help="HTTPS certificates").add_subparsers(
        dest="tls_command", required=True, metavar="COMMAND"
    )
    signed = tls.add_parser(
        "self-signed", help="make a key and a self-signed certificate; print its fingerprint"
    )
    signed.add_argument("--out", type=Path, help="folder for the files (default DATA_DIR/tls)")
    signed.add_argument(
        "--host", dest="hosts", action="append", metavar="NAME",
        help="DNS name or IP address clients use; repeat (default: this hostname, "
        "hostname.local, localhost, 127.0.0.1, ::1)",
    )  # fmt: skip
    signed.add_argument("--days", type=int, default=825, help="validity (default 825)")
    signed.add_argument("--force", action="store_true", help="replace existing files")
    data_dir_option(signed)


def run(args: argparse.Namespace, data_dir: Path) -> int:
    if args.command == "tls":
        return _self_signed(args, data_dir)
    store = TokenStore(data_dir / TOKENS_FILE)
    initial = data_dir / INITIAL_TOKEN_FILE
    if args.token_command == "show":
        return _show(store, initial)
    if args.token_command == "create":
        issued = store.create(args.name, args.scope)
        info = issued.info
        audit("token.create", outcome="ok", client=cli_client(), target=info.id, scope=info.scope)
        _note(f"created token {info.id} {info.name!r} ({info.scope}); it is shown only now:")
        print(issued.token)  # alone on stdout: TOKEN=$(appliance token create …)
        return 0
    if args.token_command == "list":
        return _list(store, as_json=args.json)
    info = revoke(store, initial, args.id)
    audit("token.revoke", outcome="ok", client=cli_client(), target=info.id)
    print(f"revoked token {info.id} {info.name!r} ({info.scope})")
    return 0


def cli_client() -> str:
    """Who changed the data dir, for audit lines: the command line and its login name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"cli:uid{os.getuid()}"


def _show(store: TokenStore, initial: Path) -> int:
    token = read_initial(initial)
    if token is None:
        _note(
            f"no initial admin token in {initial}: it was removed (or the service has not "
            "started yet with authentication on). Make another with `appliance token create "
            "--name NAME --scope admin`."
        )
        return 1
    if store.verify(token) is None:
        _note(f"the token in {initial} was revoked; `appliance token create` makes another")
        return 1
    print(token)
    _note(f"(keep it somewhere safe, then delete {initial})")
    return 0


def _list(store: TokenStore, as_json: bool) -> int:
    tokens = store.list()
    if as_json:
        rows = [
            {"id": t.id, "name": t.name, "scope": t.scope.label, "created": t.created}
            for t in tokens
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not tokens:
        _note("no tokens")
        return 0
    print(f"{'ID':<10}{'SCOPE':<10}{'CREATED':<21}NAME")
    for t in tokens:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t.created))
        print(f"{t.id:<10}{t.scope.label:<10}{created:<21}{t.name}")
    return 0


def _self_signed(args: argparse.Namespace, data_dir: Path) -> int:
    out = args.out or data_dir / "tls"
    made = make_self_signed(out, args.hosts or default_hosts(), args.days, overwrite=args.force)
    print(f"wrote {made.cert} and {made.key} (private key, mode 0600)")
    print(f"valid for {', '.join(made.hosts)} until {made.not_after:%Y-%m-%d}")
    print(f"SHA-256 fingerprint: {made.fingerprint}")
    print("serve HTTPS with these lines in the environment (/etc/appliance/appliance.env):")
    print(f"APPLIANCE_TLS_CERT={made.cert.resolve()}")
    print(f"APPLIANCE_TLS_KEY={made.key.resolve()}")
    return 0


def _note(text: str) -> None:
    print(text, file=sys.stderr)
