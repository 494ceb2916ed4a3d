"""`appliance open`: make sure a service answers, then show its dashboard in an app window.

What the desktop icon runs. Settings and the standard library only (no httpx at runtime, no
inference stack): it must start fast just to open a window.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

from appliance.auth.redact import redact
from appliance.errors import ApplianceError
from appliance.settings import Settings
from appliance.signin import signed_in_url

# App-style windows need a Chromium-family browser; tried in this order.
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "microsoft-edge-stable",
)
# The X11 WM_CLASS of the app window (`--class`): deploy/appliance.desktop's StartupWMClass,
# so the dock shows the appliance icon instead of the browser's.
WINDOW_CLASS = "appliance"
BROWSER_ENV = "APPLIANCE_BROWSER"
SYSTEM_UNITS = (
    Path("/etc/systemd/system/appliance.service"),
    Path("/lib/systemd/system/appliance.service"),
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

Probe = Literal["appliance", "other", "down"]
Say = Callable[[str], None]


class LaunchError(ApplianceError):
    """The dashboard could not be shown: nothing to serve it, or no browser to show it."""

    code = "launch_failed"


@dataclass(frozen=True)
class Target:
    """Where the dashboard is, and how to start a service there if none answers."""

    url: str
    can_start: bool  # only a service on this machine can be started by us
    serve_args: tuple[str, ...] = ()
    explicit: bool = False  # from --url: the user chose it, even beside a system service


def target(settings: Settings, url: str | None = None) -> Target:
    """The dashboard URL: --url, else the service's own host and port. A wildcard bind address
    is not somewhere a browser can go: use loopback instead."""
    if url:
        if "://" not in url:
            url = f"http://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LaunchError(f"not an http URL: {url}")
        url = url if parts.path else f"{url}/"
        local = parts.hostname in LOOPBACK and parts.scheme == "http"
        port = parts.port or 80
        args = ("--port", str(port)) if local else ()
        return Target(url, can_start=local, serve_args=args, explicit=True)
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return Target(f"http://{shown}:{settings.port}/", can_start=True)


_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout: float = 2.0) -> Probe:
    """Whether the appliance answers /healthz at `url`; "other" when something else does (a
    port taken by another program must not be mistaken for a running service)."""
    try:
        # No proxy: http_proxy in a desktop session must not swallow a loopback request.
        with _no_proxy.open(urljoin(url, "healthz"), timeout=timeout) as response:
            body = json.loads(response.read(4096) or b"null")
    except (urllib.error.HTTPError, http.client.HTTPException, ValueError):
        return "other"  # an HTTP error, not HTTP at all, or not JSON
    except OSError:
        return "down"  # refused, reset or timed out (URLError is an OSError)
    return "appliance" if isinstance(body, dict) and body.get("status") == "ok" else "other"


def system_unit_state() -> str | None:
    """systemd's word for appliance.service where deploy/install.sh installed it, else None."""
    if not any(unit.exists() for unit in SYSTEM_UNITS):
        return None
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return "unknown"
    result = subprocess.run(
        [systemctl, "is-active", "appliance.service"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def start_service(
    data_dir: Path, serve_args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], Path]:
    """`appliance serve` detached from us: its own session (closing the terminal or the
    launcher does not stop it), output appended to a log in the data dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "appliance.log"
    command = [sys.executable, "-m", "appliance", "serve", *serve_args]
    with log.open("ab") as out:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        out.write(f"--- {stamp} appliance open: {shlex.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return process, log


def wait_until_up(
    url: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll /healthz until it answers. A started service that exits is reported at once with
    its log; one that lost the port to a second launch's service counts as up."""
    deadline = time.monotonic() + timeout
    while True:
        state = probe(url)
        if state == "appliance":
            return
        if state == "other":
            raise LaunchError(f"something other than the appliance answers at {url}")
        if process is not None and process.poll() is not None:
            where = f"; see {log}{_tail(log)}" if log else ""
            raise LaunchError(f"appliance serve {_ending(process.returncode)}{where}")
        if time.monotonic() >= deadline:
            where = f"; see {log}{_tail(log)}" if log else ""
            raise LaunchError(f"the service did not answer at {url} within {timeout:.0f} s{where}")
        time.sleep(0.2)


def _ending(status: int) -> str:
    """How a process ended, in words: Popen gives a signal as a negative status."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n" + "\n".join(f"  {line}" for line in text) if text else ""


def ensure_service(where: Target, data_dir: Path, timeout: float, say: Say) -> None:
    """A service answering at `where.url`: the one already there, or one we start."""
    state = probe(where.url)
    if state == "appliance":
        return
    if state == "other":
        raise LaunchError(
            f"something other than the appliance answers at {where.url}: "
            "set APPLIANCE_PORT (or --url) to where the appliance listens"
        )
    if not where.can_start:
        raise LaunchError(f"nothing answers at {where.url}")
    unit = None if where.explicit else system_unit_state()
    if unit in ("activating", "reloading"):
        say("appliance.service is starting; waiting for it")
        wait_until_up(where.url, timeout)
        return
    if unit is not None:
        # The system service owns this machine's cameras and data: a second, private server
        # would show an empty dashboard and take the service's port.
        raise LaunchError(
            f"appliance.service is installed ({unit}) but nothing answers at {where.url}. "
            "Start it with `sudo systemctl start appliance` (see `systemctl status appliance`),"
            " or if it listens elsewhere, set APPLIANCE_PORT or pass --url"
        )
    process, log = start_service(data_dir, where.serve_args)
    say(f"started appliance serve (pid {process.pid}), log: {log}")
    wait_until_up(where.url, timeout, process, log)


def _say(message: str) -> None:
    print(f"appliance: {message}", file=sys.stderr, flush=True)


def profile_dir(executable: str, data_dir: Path) -> Path:
    """The app window's own browser profile: its own process, window class and settings,
    apart from the user's browsing. A snap browser may not write under hidden folders such as
    ~/.local, only in its own ~/snap/NAME/common."""
    resolved = Path(shutil.which(executable) or executable).resolve()
    if resolved.parts[:2] == ("/", "snap"):
        return Path.home() / "snap" / Path(executable).name / "common" / "appliance-window"
    return data_dir / "browser"


def chromium_args(
    executable: str, url: str, data_dir: Path, extra: list[str] | None = None
) -> list[str]:
    return [
        executable,
        *(extra or []),
        f"--app={url}",
        f"--user-data-dir={profile_dir(executable, data_dir)}",
        f"--class={WINDOW_CLASS}",
        "--no-first-run",
        "--no-default-browser-check",
    ]


def browser_command(url: str, data_dir: Path, browser: str | None = None) -> list[str] | None:
    """The command that opens `url`: the chosen browser (a Chromium-family one gets an app
    window), else the first Chromium-family browser on PATH, else None (default browser)."""
    words = shlex.split(browser or "")
    if words:
        executable, *extra = words
        if Path(executable).name in CHROMIUM_NAMES:
            return chromium_args(executable, url, data_dir, extra)
        return [executable, *extra, url]
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return chromium_args(found, url, data_dir)
    return None


def open_dashboard(url: str, data_dir: Path, browser: str | None, say: Say) -> None:
    command = browser_command(url, data_dir, browser)
    if command is None:
        # The desktop's default browser (xdg-open, $BROWSER ...): a tab, not an app window.
        if not webbrowser.open(url, new=1):
            raise LaunchError(f"no browser found: open {url} yourself")
        return
    say(f"opening {redact(url)} with {Path(command[0]).name}")  # a sign-in code: ***
    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the window outlives `appliance open`
        )
    except OSError as exc:
        raise LaunchError(f"cannot run {command[0]}: {exc.strerror}") from exc


def notify_failure(message: str) -> None:
    """A desktop notification too where nobody reads stderr (the icon has no terminal)."""
    notify = shutil.which("notify-send")
    if notify is None or sys.stderr.isatty():
        return
    command = [notify, "--icon=appliance", "Edge Appliance could not open", message]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):  # stderr has it anyway
        subprocess.run(command, timeout=5, check=False, capture_output=True)


def open_app(
    settings: Settings,
    *,
    url: str | None = None,
    browser: str | None = None,
    show: bool = True,
    timeout: float = 120.0,
) -> str:
    """The whole of `appliance open`; returns the dashboard URL: a one-time sign-in link
    where this user can read the service's admin token (only for a service on this machine:
    the token is never sent elsewhere)."""
    try:
        where = target(settings, url)
        ensure_service(where, settings.data_dir, timeout, _say)
        shown = where.url
        if where.can_start:
            shown = signed_in_url(where.url, settings.data_dir, _say)
        if show:
            chosen = browser or os.environ.get(BROWSER_ENV)
            open_dashboard(shown, settings.data_dir, chosen, _say)
    except LaunchError as exc:
        notify_failure(exc.message)
        raise
    return shown
