"""The desktop launcher: deploy/appliance.desktop with its icon, and `appliance open` run as the
icon runs it, against real servers, with recording fakes standing in for the browsers."""

from __future__ import annotations

import configparser
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, free_port, start_server
from test_installer import install

from appliance.launcher import SYSTEM_UNITS, WINDOW_CLASS, LaunchError, target, wait_until_up
from appliance.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NO_CAMERAS = '{"schema_version": 1, "cameras": []}'


def appliance_open(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m appliance open ARGS` with APPLIANCE_* taken only from `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "BROWSER"))}
    return subprocess.run(
        [sys.executable, "-m", "appliance", "open", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fake_browser(folder: Path, name: str) -> tuple[Path, Path]:
    """An executable named like a browser that writes its arguments, one a line, to a file."""
    folder.mkdir(parents=True, exist_ok=True)
    script, record = folder / name, folder / f"{name}.argv"
    # Written aside, then renamed: the test never reads half a list.
    # (mv by its path: some tests give the fake a PATH without the system's folders.)
    mv = shutil.which("mv")
    record_argv = f"printf '%s\\n' \"$@\" >{record}.part && {mv} {record}.part {record}"
    script.write_text(f"#!/bin/sh\n# a fake {name}: records its argv\n{record_argv}\n")
    script.chmod(0o755)
    return script, record


def recorded(record: Path, timeout: float = 20) -> list[str]:
    """The fake's arguments: it runs detached, so it may write after `appliance open` ends."""
    deadline = time.monotonic() + timeout
    while not record.exists():
        assert time.monotonic() < deadline, f"{record.name} was never called"
        time.sleep(0.05)
    return record.read_text().splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture
def user_env(tmp_path: Path, server: Server) -> dict[str, str]:
    """The desktop user's environment: the service's port, a data dir of their own."""
    return {"APPLIANCE_PORT": str(server.port), "APPLIANCE_DATA_DIR": str(tmp_path / "user")}


# --- the desktop entry and its icon ---------------------------------------------------------


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path)
    return parser["Desktop Entry"]


def test_desktop_entry_is_valid_and_matches_the_launcher(need: Callable[[str], str]) -> None:
    entry = DEPLOY / "appliance.desktop"
    result = subprocess.run(
        [need("desktop-file-validate"), str(entry)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr
    keys = desktop_entry(entry)
    assert keys["Type"] == "Application"
    assert keys["Exec"] == "appliance open"  # the console script; install.sh puts it on PATH
    assert keys["Terminal"] == "false"
    assert keys["Icon"] == "appliance" == (DEPLOY / "appliance.svg").stem
    assert keys["StartupWMClass"] == WINDOW_CLASS  # the class `appliance open` gives the window
    assert keys["Name"] and keys["Comment"] and keys["Categories"]


def test_icon_is_a_square_svg() -> None:
    root = ET.parse(DEPLOY / "appliance.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0) and width == height


def test_installer_places_the_shipped_entry_and_icon(
    tmp_path: Path, need: Callable[[str], str]
) -> None:
    root = tmp_path / "root"
    install(root)
    entry = root / "usr/local/share/applications/appliance.desktop"
    icon = root / "usr/local/share/icons/hicolor/scalable/apps/appliance.svg"
    assert entry.read_bytes() == (DEPLOY / "appliance.desktop").read_bytes()
    assert icon.read_bytes() == (DEPLOY / "appliance.svg").read_bytes()
    assert entry.stat().st_mode & 0o777 == icon.stat().st_mode & 0o777 == 0o644
    result = subprocess.run([need("desktop-file-validate"), str(entry)], capture_output=True)
    assert result.returncode == 0 and not result.stdout


# --- where `appliance open` goes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123/"),
        ("0.0.0.0", "http://127.0.0.1:8123/"),  # a bind-everything address is not a destination
        ("::", "http://[::1]:8123/"),
        ("192.168.1.20", "http://192.168.1.20:8123/"),
    ],
)
def test_url_from_the_service_settings(host: str, url: str, tmp_path: Path) -> None:
    where = target(Settings(host=host, port=8123, data_dir=tmp_path))
    assert (where.url, where.can_start, where.explicit) == (url, True, False)


def test_url_option(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    local = target(settings, "localhost:9000")
    assert (local.url, local.can_start, local.serve_args) == (
        "http://localhost:9000/",
        True,
        ("--port", "9000"),
    )
    remote = target(settings, "http://jetson.lan:8080/")
    assert not remote.can_start  # another machine's service is not ours to start


# --- `appliance open` against real servers ----------------------------------------------------


def test_no_browser_prints_the_url_of_the_running_service(
    server: Server, user_env: dict[str, str], tmp_path: Path
) -> None:
    result = appliance_open("--no-browser", env=user_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{server.url}/\n"
    assert not (tmp_path / "user/appliance.log").exists()  # nothing started

    everywhere = appliance_open("--no-browser", env={**user_env, "APPLIANCE_HOST": "0.0.0.0"})
    assert everywhere.stdout == f"http://127.0.0.1:{server.port}/\n", everywhere.stderr


def test_opens_an_app_window_in_the_first_chromium_on_path(
    server: Server, user_env: dict[str, str], tmp_path: Path
) -> None:
    _, record = fake_browser(tmp_path / "bin", "chromium")
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"  # first, before a real one
    result = appliance_open(env={**user_env, "PATH": path})
    assert result.returncode == 0, result.stderr
    argv = recorded(record)
    assert f"--app={server.url}/" in argv
    assert f"--user-data-dir={tmp_path / 'user/browser'}" in argv  # its own window and class
    assert f"--class={WINDOW_CLASS}" in argv


def test_without_chromium_the_default_browser_opens_it(
    server: Server, user_env: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"  # PATH holds no Chromium-family browser at all
    script, record = fake_browser(bin_dir, "default-browser")
    result = appliance_open(env={**user_env, "PATH": str(bin_dir), "BROWSER": str(script)})
    assert result.returncode == 0, result.stderr
    assert recorded(record) == [f"{server.url}/"]


def test_browser_chosen_by_environment(
    server: Server, user_env: dict[str, str], tmp_path: Path
) -> None:
    chromium, chromium_record = fake_browser(tmp_path / "bin", "google-chrome")
    chosen = {**user_env, "PATH": str(tmp_path / "bin"), "APPLIANCE_BROWSER": f"{chromium} -v"}
    assert appliance_open(env=chosen).returncode == 0
    argv = recorded(chromium_record)
    assert argv[0] == "-v" and f"--app={server.url}/" in argv  # Chromium-family: app window

    other, other_record = fake_browser(tmp_path / "bin", "firefox")
    result = appliance_open("--browser", str(other), env=user_env)
    assert result.returncode == 0, result.stderr
    assert recorded(other_record) == [f"{server.url}/"]  # anything else: just the URL


def test_refuses_a_port_that_another_program_answers(tmp_path: Path) -> None:
    port = free_port()
    other = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        env = {"APPLIANCE_PORT": str(port), "APPLIANCE_DATA_DIR": str(tmp_path / "user")}
        result = appliance_open("--no-browser", env=env)
    finally:
        other.terminate()
        other.wait(10)
    assert result.returncode == 1
    assert "something other than the appliance answers" in result.stderr
    assert not (tmp_path / "user/appliance.log").exists()


# --- signed in: a one-time link from the admin token in the data dir --------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service as installed for a desktop user: authentication on, the first admin token
    in the data dir that `appliance open` reads too."""
    with start_server(tmp_path_factory.mktemp("secured"), auth=True) as running:
        yield running


def secured_env(server: Server) -> dict[str, str]:
    return {
        "APPLIANCE_PORT": str(server.port),
        "APPLIANCE_DATA_DIR": str(server.log.parent / "data"),
    }


def test_opens_a_signed_in_window_with_a_one_time_link(secured: Server, tmp_path: Path) -> None:
    _, record = fake_browser(tmp_path / "bin", "chromium")
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    result = appliance_open(env={**secured_env(secured), "PATH": path})
    assert result.returncode == 0, result.stderr
    (app,) = [arg for arg in recorded(record) if arg.startswith("--app=")]
    link = app.removeprefix("--app=")
    assert link.startswith(f"{secured.url}/login?code=")
    assert secured.token and secured.token.split("_", 2)[2] not in " ".join(recorded(record))
    assert f"opening {secured.url}/login?code=*** with chromium" in result.stderr  # not the code
    with httpx.Client(follow_redirects=False) as browser:
        assert browser.get(link).status_code == 303  # redeemed: on to the dashboard
        assert browser.get(f"{secured.url}/").status_code == 200
        assert "used already" in browser.get(link).text


def test_a_link_opens_the_page_asked_for(secured: Server) -> None:
    env = secured_env(secured)
    result = appliance_open("--no-browser", "--url", f"{secured.url}/cameras", env=env)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"{secured.url}/login\?code=[\w-]+&next=/cameras\n", result.stdout)


def test_without_a_usable_token_the_plain_url_opens(secured: Server, tmp_path: Path) -> None:
    own = {**secured_env(secured), "APPLIANCE_DATA_DIR": str(tmp_path / "user")}
    assert appliance_open("--no-browser", env=own).stdout == f"{secured.url}/\n"  # no token
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "admin.token").write_text("apl_00000000_" + "x" * 43)
    refused = appliance_open("--no-browser", env=own)
    assert refused.returncode == 0 and refused.stdout == f"{secured.url}/\n"
    assert "no sign-in link (HTTP 401)" in refused.stderr


def test_a_remote_service_never_gets_the_local_token(secured: Server) -> None:
    """--url to another machine (127.0.0.2 stands in: not this machine's service address):
    no link is asked for there, which would send it the local admin token."""
    seen: list[str] = []

    class Remote(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"GET {self.path} {self.headers.get('Authorization')}")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def do_POST(self) -> None:
            seen.append(f"POST {self.path} {self.headers.get('Authorization')}")
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.2", 0), Remote) as remote:
        threading.Thread(target=remote.serve_forever, daemon=True).start()
        url = f"http://127.0.0.2:{remote.server_address[1]}/"
        result = appliance_open("--no-browser", "--url", url, env=secured_env(secured))
        remote.shutdown()
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{url}\n"
    assert seen == ["GET /healthz None"]


# --- `appliance open` starting the service ----------------------------------------------------


def stop(pid: int) -> None:
    """SIGTERM a server that `appliance open` detached; not our child, so poll until gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def no_system_service() -> None:
    if any(unit.exists() for unit in SYSTEM_UNITS):
        pytest.skip("appliance.service is installed here: `appliance open` defers to it")


@pytest.mark.usefixtures("no_system_service")
def test_starts_the_service_when_none_answers(tmp_path: Path) -> None:
    port, data = free_port(), tmp_path / "user"
    data.mkdir()
    (data / "config.json").write_text(NO_CAMERAS)  # no demo camera to share the CPU with
    env = {"APPLIANCE_PORT": str(port), "APPLIANCE_DATA_DIR": str(data)}
    result = appliance_open("--no-browser", env=env)
    started = re.search(r"started appliance serve \(pid (\d+)\), log: (.+)$", result.stderr, re.M)
    try:
        assert result.returncode == 0, result.stderr
        assert started, result.stderr
        # the service it started has authentication on (the default) and its admin token in
        # the user's data dir: the URL is a one-time sign-in link, not the token
        assert result.stdout.startswith(f"http://127.0.0.1:{port}/login?code="), result.stdout
        assert (data / "admin.token").read_text().strip() not in result.stdout
        pid, log = int(started[1]), Path(started[2])
        assert log == data / "appliance.log"
        # Detached: `appliance open` has ended, the service still answers, in its own session.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert os.getsid(pid) == pid != os.getsid(0)
        assert "appliance open:" in log.read_text()

        again = appliance_open("--no-browser", env=env)  # now it answers: nothing new starts
        assert again.returncode == 0 and "started" not in again.stderr, again.stderr
    finally:
        if started:
            stop(int(started[1]))


@pytest.mark.usefixtures("no_system_service")
def test_a_service_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    # A socket that listens but never answers: the probe times out (nothing there, it seems),
    # and the service started for the user then finds the port taken and exits.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"APPLIANCE_PORT": str(port), "APPLIANCE_DATA_DIR": str(tmp_path / "user")}
        result = appliance_open("--no-browser", env=env)
    assert result.returncode == 1
    log = tmp_path / "user/appliance.log"
    assert re.search(
        rf"appliance serve exited with status \d+; see {re.escape(str(log))}$", result.stderr, re.M
    )
    assert "address already in use" in result.stderr.lower()  # the log's tail is shown too


def test_a_started_service_that_crashes_is_reported_by_its_signal(tmp_path: Path) -> None:
    log = tmp_path / "appliance.log"
    log.write_text("the last words\n")
    crashed = subprocess.Popen([sys.executable, "-c", "import os; os.abort()"])
    crashed.wait(30)
    said = rf"^appliance serve was killed by SIGABRT; see {re.escape(str(log))}\n  the last words$"
    with pytest.raises(LaunchError, match=said):
        wait_until_up(f"http://127.0.0.1:{free_port()}/", 30, crashed, log)
