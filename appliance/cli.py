"""Command line: `appliance serve`, `appliance open`, `appliance models import-darknet`,
`appliance doctor`, `appliance token …`, `appliance user …`, `appliance tls self-signed`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from appliance import __version__
from appliance.errors import ApplianceError


def setting_help(name: str, note: str = "") -> str:
    """A `serve` flag's help from its Settings field, description and default alike, so
    `--help` cannot say one thing while the service does another."""
    from appliance.settings import Settings

    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(str(item) for item in default)
    text = (field.description or name).rstrip(".")
    text += f"; {note}" if note else ""
    return f"{text} (default: {default})".replace("%", "%%")


def setting_choices(name: str) -> list[str]:
    """The values a Literal setting takes."""
    from appliance.settings import Settings

    return list(get_args(Settings.model_fields[name].annotation))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Edge inference appliance")
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service (APPLIANCE_* variables apply too)")
    serve.add_argument("--host", help=setting_help("host"))
    serve.add_argument("--port", type=int, help=setting_help("port"))
    serve.add_argument("--data-dir", type=Path, help=setting_help("data_dir"))
    serve.add_argument(
        "--model", dest="models", action="append", metavar="SPEC",
        help=setting_help("models", "repeat for several"),
    )  # fmt: skip
    serve.add_argument("--engine", choices=setting_choices("engine"), help=setting_help("engine"))
    serve.add_argument("--providers", help=setting_help("providers", "comma-separated"))
    serve.add_argument(
        "--log-level", choices=setting_choices("log_level"), help=setting_help("log_level")
    )

    opener = commands.add_parser(
        "open",
        help="show the dashboard in an app window, starting the service if none answers",
        description="Open the dashboard (what the desktop icon runs). Host and port come from "
        "the APPLIANCE_* variables, like `appliance serve`; a service that does not answer is "
        "started in the background, logging to DATA_DIR/appliance.log. Where DATA_DIR/admin.token "
        "is readable, the URL is a one-time sign-in link (not the token): the window opens "
        "signed in.",
    )
    opener.add_argument("--url", help="the service's URL (default from APPLIANCE_HOST/PORT)")
    opener.add_argument(
        "--browser",
        help="browser command (default $APPLIANCE_BROWSER, else Chromium/Chrome/Edge as an app "
        "window, else the desktop's default browser)",
    )
    opener.add_argument(
        "--no-browser", action="store_true", help="print the URL (or link), open nothing"
    )
    opener.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for a started service"
    )

    models = commands.add_parser("models", help="model tools").add_subparsers(
        dest="models_command", required=True, metavar="COMMAND"
    )
    darknet = models.add_parser("import-darknet", help="convert Darknet cfg+weights to ONNX")
    darknet.add_argument("cfg", type=Path)
    darknet.add_argument("weights", type=Path)
    darknet.add_argument("names", type=Path, help="class names, one per line (e.g. coco.names)")
    darknet.add_argument("-o", "--output", type=Path, required=True)
    darknet.add_argument("--fp16", action="store_true", help="store weights as float16")

    doctor = commands.add_parser("doctor", help="show what this machine offers (GPU, cameras...)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    from appliance.auth.commands import add_commands  # token …, tls self-signed
    from appliance.auth.user_commands import add_user_commands  # user …

    add_commands(commands)
    add_user_commands(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from appliance.logging import setup_logging
    from appliance.server import serve
    from appliance.settings import Settings

    names = ("host", "port", "data_dir", "models", "engine", "providers", "log_level")
    flags = {name: getattr(args, name) for name in names}
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        print(f"appliance: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    serve(settings)
    return 0


def _open(args: argparse.Namespace) -> int:
    from appliance.launcher import open_app
    from appliance.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"appliance: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    url = open_app(
        settings,
        url=args.url,
        browser=args.browser,
        show=not args.no_browser,
        timeout=args.timeout,
    )
    if args.no_browser:
        print(url)
    return 0


def _import_darknet(args: argparse.Namespace) -> int:
    from appliance.models.darknet import import_darknet

    model = import_darknet(args.cfg, args.weights, args.names, args.output, fp16=args.fp16)
    output = model.graph.output[0]
    dims = [d.dim_value or d.dim_param for d in output.type.tensor_type.shape.dim]
    print(f"wrote {args.output}: {len(model.graph.node)} nodes, output {output.name} {dims}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from appliance.doctor import main as doctor

    return doctor(as_json=args.json)


def _security(args: argparse.Namespace) -> int:
    """token, user and tls commands: on the data dir `serve` would use (APPLIANCE_DATA_DIR…)."""
    from appliance.auth.commands import run
    from appliance.auth.user_commands import run_user_command
    from appliance.logging import setup_cli_audit
    from appliance.settings import Settings

    setup_cli_audit()

    try:
        settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    except ValidationError as exc:
        print(f"appliance: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "user":
            return run_user_command(args, settings.data_dir)
        return run(args, settings.data_dir)
    except (PermissionError, FileExistsError, ValueError) as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "open":
            return _open(args)
        if args.command in ("token", "user", "tls"):
            return _security(args)
        return _import_darknet(args)
    except ApplianceError as exc:
        print(f"appliance: {exc.message}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"appliance: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
