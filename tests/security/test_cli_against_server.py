"""`appliance token …` on the data dir of a running `appliance serve` (real uvicorn): a new
token works at once over HTTP and WebSocket, a revoked one stops at once; signed MJPEG URLs;
/metrics needs a token; nothing secret reaches the log."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from helpers import ROOT, Server, assert_error, start_server
from websockets.exceptions import InvalidStatus

from appliance.services.auth import AuthService

CAMERA = {"id": "cam", "name": "Cam", "uri": "demo://", "fps_limit": 5}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("auth"), [CAMERA], auth=True) as running:
        yield running


def data_dir(server: Server) -> Path:
    return server.log.parent / "data"


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "token", *args, "--data-dir", str(data_dir(server))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ws_status(url: str, headers: dict[str, str] | None = None) -> int:
    """101 when the handshake is accepted, else the HTTP status it was refused with."""
    try:
        async with websockets.connect(url, additional_headers=headers):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_token_show_prints_the_initial_admin_token(server: Server) -> None:
    shown = cli(server, "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == server.token
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/models", headers=bearer(shown.stdout.strip())).status_code == 200


def test_create_use_list_revoke_round_trip(server: Server) -> None:
    created = cli(server, "create", "--name", "ci runner", "--scope", "operator")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("apl_") and "\n" not in token
    ws_url = f"{server.ws_url}/v1/events"
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/cameras", headers=bearer(token)).status_code == 200
        upload = http.post("/v1/models", headers=bearer(token), files={"file": b"x"})
        assert_error(upload, 403, "forbidden")  # models need admin
        assert asyncio.run(ws_status(f"{ws_url}?access_token={token}")) == 101
        assert asyncio.run(ws_status(ws_url, bearer(token))) == 101

        listed = json.loads(cli(server, "list", "--json").stdout)
        mine = next(t for t in listed if t["name"] == "ci runner")
        assert mine["scope"] == "operator" and token not in json.dumps(listed)

        revoked = cli(server, "revoke", mine["id"])
        assert revoked.returncode == 0, revoked.stderr
        # both changes audited (journald with systemd-python, else stderr), never the secret
        for done, event in ((created, "token.create"), (revoked, "token.revoke")):
            assert f"audit {event} outcome=ok client=cli:" in done.stderr, done.stderr
            assert f"target={mine['id']}" in done.stderr and token not in done.stderr
        assert_error(http.get("/v1/cameras", headers=bearer(token)), 401, "unauthorized")
        assert asyncio.run(ws_status(f"{ws_url}?access_token={token}")) == 401
        assert cli(server, "revoke", mine["id"]).returncode == 1  # no such token any more


def test_websockets_refuse_without_a_token(server: Server) -> None:
    for path in ("/v1/events", "/v1/cameras/cam/ws", "/v1/detect/ws"):
        assert asyncio.run(ws_status(server.ws_url + path)) == 401


def test_a_signed_mjpeg_url_streams_without_a_token(server: Server) -> None:
    path = "/v1/cameras/cam/stream.mjpg"
    signed = AuthService(data_dir(server)).sign(path, ttl_s=30)  # the service's own secret
    with httpx.Client(base_url=server.url, timeout=20) as http:
        assert_error(http.get(path), 401, "unauthorized")
        with http.stream("GET", signed) as response:
            assert response.status_code == 200
            first = next(response.iter_bytes())
            assert first.startswith(b"--frame\r\nContent-Type: image/jpeg")


def test_metrics_need_a_viewer_by_default(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert_error(http.get("/metrics"), 401, "unauthorized")
        assert http.get("/metrics", headers=server.headers).status_code == 200
        for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/docs"):
            assert http.get(path).status_code == 200, path


def test_no_token_or_signature_reaches_the_log(server: Server) -> None:
    """Tokens in ?access_token= and signatures are masked in the access log."""
    token = server.token
    assert token is not None
    asyncio.run(ws_status(f"{server.ws_url}/v1/events?access_token={token}"))
    signed = AuthService(data_dir(server)).sign("/v1/cameras/cam/snapshot.jpg")
    with httpx.Client(base_url=server.url) as http:
        assert http.get(signed).status_code == 200
    log = server.log_text()
    assert token not in log and token.split("_", 2)[2] not in log
    assert signed.rsplit("sig=", 1)[1] not in log
    assert "sig=***" in log and "appliance token show" in log
