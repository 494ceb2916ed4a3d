"""Dashboard users against a real `appliance serve` (uvicorn on loopback, authentication on):
the first start makes `admin`; the sign-in form's cookie (HttpOnly, SameSite=Strict, Max-Age)
works for the API only with the page's header, with the user's role; sign-out and the CLI's
changes end sessions at once; no password reaches the log."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import ROOT, Server, assert_error, start_server
from starlette.exceptions import StarletteDeprecationWarning

from appliance.app import create_app
from appliance.auth.sessions import COOKIE, HEADER
from appliance.services.auth import AuthService
from appliance.settings import Settings

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2 over httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("users"), [], auth=True) as running:
        yield running


def data_dir(server: Server) -> Path:
    return server.log.parent / "data"


def user_cli(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "user", *args, "--data-dir", str(data_dir(server))],
        cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def add_user(server: Server, name: str, role: str, password: str) -> None:
    added = user_cli(server, "add", name, "--role", role, "--password-stdin", stdin=password)
    assert added.returncode == 0, added.stderr


def sign_in(server: Server, name: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url) as http:
        return http.post(
            "/auth/session", data={"name": name, "password": password, "next": "/cameras"}
        )


def session_cookie(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    match = re.match(rf"{COOKIE}=([^;]+);", response.headers["set-cookie"])
    assert match, response.headers
    return match.group(1)


def cookie_only(session: str) -> dict[str, str]:
    """What a browser sends anywhere: the cookie (sent again by hand: a replay works too)."""
    return {"Cookie": f"{COOKIE}={session}"}


def page(session: str) -> dict[str, str]:
    """What the dashboard's own requests send: the cookie and the header beside it."""
    return {**cookie_only(session), HEADER: "1"}


def test_the_first_start_makes_admin_and_logs_how_to_read_its_password(server: Server):
    initial = data_dir(server) / "admin.password"
    password = initial.read_text().strip()
    assert stat.S_IMODE(initial.stat().st_mode) == 0o600
    users = json.loads((data_dir(server) / "users.json").read_text())["users"]
    assert [(u["name"], u["role"], u["must_change"]) for u in users] == [("admin", "admin", True)]
    lines = [line for line in server.log_text().splitlines() if "dashboard user" in line]
    assert len(lines) == 1 and "appliance user show-initial" in lines[0]
    assert password not in server.log_text()
    shown = user_cli(server, "show-initial")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == password


def test_sign_in_sets_a_strict_http_only_cookie_with_an_expiry(server: Server):
    add_user(server, "carol", "viewer", "carol's password")
    response = sign_in(server, "Carol", "carol's password")
    assert response.status_code == 303
    assert response.headers["location"] == "/cameras"
    header = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in header.lower() and "secure" not in attributes  # plain HTTP
    assert 43000 < int(header.lower().split("max-age=")[1].split(";")[0]) <= 43200  # 12 h
    assert "carol's password" not in server.log_text()


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(server: Server):
    add_user(server, "dave", "viewer", "dave's password")
    wrong, unknown = sign_in(server, "dave", "not his"), sign_in(server, "nobody", "not his")
    for refused in (wrong, unknown):
        assert refused.status_code == 303
        assert refused.headers["location"] == "/login?error=password&next=%2Fcameras"
        assert "set-cookie" not in refused.headers


def test_the_cookie_works_for_the_api_only_with_the_page_header(server: Server):
    add_user(server, "erin", "viewer", "erin's password")
    cookie = session_cookie(sign_in(server, "erin", "erin's password"))
    with httpx.Client(base_url=server.url) as http:
        # a cross-site form or <img> sends the cookie but cannot add a header: ignored
        assert_error(http.get("/v1/cameras", headers=cookie_only(cookie)), 401, "unauthorized")
        posted = http.post("/v1/cameras", json={}, headers=cookie_only(cookie))
        assert_error(posted, 401, "unauthorized")
        assert http.get("/v1/cameras", headers=page(cookie)).status_code == 200
        # the header without the cookie, or with a made-up one
        assert_error(http.get("/v1/cameras", headers={HEADER: "1"}), 401, "unauthorized")
        assert_error(http.get("/v1/cameras", headers=page("made-up")), 401, "unauthorized")


def test_a_viewer_cannot_do_operator_things_and_an_operator_can(server: Server):
    add_user(server, "fay", "viewer", "fay's password")
    add_user(server, "gus", "operator", "gus's password")
    viewer = session_cookie(sign_in(server, "fay", "fay's password"))
    operator = session_cookie(sign_in(server, "gus", "gus's password"))
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/cameras", headers=page(viewer)).status_code == 200
        denied = http.delete("/v1/cameras/nope", headers=page(viewer))
        assert_error(denied, 403, "forbidden")
        assert "needs scope operator" in denied.json()["error"]["message"]
        missing = http.delete("/v1/cameras/nope", headers=page(operator))
        assert_error(missing, 404, "camera_not_found")
        assert_error(http.delete("/v1/models/nope", headers=page(operator)), 403, "forbidden")


def test_a_user_who_owes_a_new_password_gets_nothing_from_the_api(server: Server):
    password = (data_dir(server) / "admin.password").read_text().strip()
    cookie = session_cookie(sign_in(server, "admin", password))
    with httpx.Client(base_url=server.url, headers=page(cookie)) as http:
        refused = http.get("/v1/cameras")
        assert_error(refused, 403, "forbidden")
        assert "new password" in refused.json()["error"]["message"]


def test_sign_out_ends_the_session_on_the_server(server: Server):
    add_user(server, "hal", "viewer", "hal's password")
    cookie = session_cookie(sign_in(server, "hal", "hal's password"))
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/system", headers=page(cookie)).status_code == 200
        out = http.post("/auth/sign-out", headers=cookie_only(cookie))
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert f'{COOKIE}=""' in out.headers["set-cookie"]  # the browser drops it
        replayed = http.get("/v1/system", headers=page(cookie))  # a copy kept somewhere
        assert_error(replayed, 401, "unauthorized")


def test_a_token_signs_in_through_the_same_form(server: Server):
    assert server.token
    with httpx.Client(base_url=server.url) as http:
        bad = http.post("/auth/session", data={"token": "apl_00000000_" + "x" * 43})
        assert bad.headers["location"] == "/login?error=token&next=%2F"
        good = http.post("/auth/session", data={"token": server.token, "next": "//evil/x"})
        assert good.headers["location"] == "/"  # only a path on this site
        cookie = session_cookie(good)
        assert http.delete("/v1/models/nope", headers=page(cookie)).status_code == 404


def test_the_cli_changes_a_running_service_at_once(server: Server):
    """passwd, role and remove on the data dir end the user's sessions at their next use."""
    add_user(server, "ivy", "operator", "ivy's password")
    listed = json.loads(user_cli(server, "list", "--json").stdout)
    ivy = next(u for u in listed if u["name"] == "ivy")
    assert (ivy["role"], ivy["must_change"]) == ("operator", False)
    assert all(set(u) == {"name", "role", "created", "must_change"} for u in listed)
    assert "ivy's password" not in json.dumps(listed) and "argon2" not in json.dumps(listed)

    with httpx.Client(base_url=server.url) as http:
        cookie = session_cookie(sign_in(server, "ivy", "ivy's password"))
        changed = user_cli(server, "passwd", "ivy", "--password-stdin", stdin="ivy's new one\n")
        assert changed.returncode == 0, changed.stderr
        assert_error(http.get("/v1/cameras", headers=page(cookie)), 401, "unauthorized")
        assert sign_in(server, "ivy", "ivy's password").headers["location"].startswith("/login")

        cookie = session_cookie(sign_in(server, "ivy", "ivy's new one"))
        assert user_cli(server, "role", "ivy", "viewer").returncode == 0
        assert_error(http.get("/v1/cameras", headers=page(cookie)), 401, "unauthorized")

        cookie = session_cookie(sign_in(server, "ivy", "ivy's new one"))
        removed = user_cli(server, "remove", "ivy")
        assert removed.returncode == 0, removed.stderr
        assert_error(http.get("/v1/cameras", headers=page(cookie)), 401, "unauthorized")
    assert "ivy's new one" not in server.log_text()


def test_an_expired_session_is_refused_and_https_cookies_are_secure(tmp_path: Path):
    """Sessions last APPLIANCE_SESSION_TTL_S from sign-in, whatever the browser keeps."""
    settings = Settings(
        data_dir=tmp_path / "data", models=["demo"], dashboard=False, auth=True, session_ttl_s=1.0
    )
    with TestClient(create_app(settings)) as client:
        auth: AuthService = client.app.state.services.auth  # type: ignore[attr-defined]
        auth.add_user("jo", "viewer", "jo's password")
        signed = client.post(
            "/auth/session",
            data={"name": "jo", "password": "jo's password"},
            follow_redirects=False,
        )
        cookie = session_cookie(signed)
        assert "max-age=1" in signed.headers["set-cookie"].lower()
        client.cookies.clear()  # sent by hand below, as a replay would
        assert client.get("/v1/system", headers=page(cookie)).status_code == 200
        time.sleep(1.2)
        assert_error(client.get("/v1/system", headers=page(cookie)), 401, "unauthorized")
        over_https = client.post(  # as uvicorn serving TLS hands it over: scheme https
            "https://testserver/auth/session",
            data={"name": "jo", "password": "jo's password"},
            follow_redirects=False,
        )
        assert "; secure" in over_https.headers["set-cookie"].lower()


def form_from(server: Server, address: str, name: str, password: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=server.url, transport=transport) as http:
        return http.post("/auth/session", data={"name": name, "password": password})


def test_password_guesses_lock_out_the_address_and_name_only(server: Server) -> None:
    """Ten wrong passwords for one user from one address: the form then refuses that pair,
    even with the right password, before looking at it; the same user from another address
    and another user from the same address still sign in."""
    add_user(server, "guessed", "viewer", "right-password-1")
    add_user(server, "neighbour", "viewer", "right-password-2")
    for _ in range(10):
        wrong = form_from(server, "127.0.0.21", "guessed", "not-it-at-all")
        assert "error=password" in wrong.headers["location"]
    locked = form_from(server, "127.0.0.21", "guessed", "right-password-1")
    assert "error=throttled" in locked.headers["location"] and COOKIE not in locked.headers.get(
        "set-cookie", ""
    )
    elsewhere = form_from(server, "127.0.0.22", "guessed", "right-password-1")
    assert session_cookie(elsewhere)
    same_address = form_from(server, "127.0.0.21", "neighbour", "right-password-2")
    assert session_cookie(same_address)
    log = server.log_text()
    assert "reason=bad_password" in log and "user=guessed" in log
    assert "not-it-at-all" not in log and "right-password-1" not in log
    metrics = httpx.get(f"{server.url}/metrics", headers=server.headers).text
    assert re.search(
        r'appliance_auth_failures_total\{reason="bad_password"\} (1\d|[2-9]\d)', metrics
    )
