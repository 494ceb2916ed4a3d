"""One-time sign-in links (`POST /v1/auth/login-links`, redeemed at /login?code=) against a
real `appliance serve` with its dashboard: a link signs one browser session in, once, within
its time; the token is never in the link, the code never in the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, assert_error, start_server

from appliance.services.auth import AuthService

TTL_S = 3.0  # APPLIANCE_LOGIN_LINK_TTL_S, short so expiry is seen without a long wait


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"APPLIANCE_LOGIN_LINK_TTL_S": str(TTL_S)}
    with start_server(tmp_path_factory.mktemp("links"), auth=True, env=env) as running:
        yield running


def data_dir(server: Server) -> Path:
    return server.log.parent / "data"


def ask_link(server: Server, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}/v1/auth/login-links", headers=headers)


def browser(server: Server) -> httpx.Client:
    """A browser of its own: its own cookie jar, so its own dashboard session."""
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=20)


def signed_in(client: httpx.Client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def test_a_link_signs_one_session_in_once(server: Server) -> None:
    assert server.token
    made = ask_link(server, server.token)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["path"] == f"/login?code={body['code']}"
    assert 0 < body["expires_in_s"] <= TTL_S and body["expires_at"] > time.time()
    secret = server.token.split("_", 2)[2]
    assert server.token not in made.text and secret not in made.text

    with browser(server) as first:
        assert not signed_in(first)
        redeemed = first.get(body["path"])
        assert redeemed.status_code == 303 and redeemed.headers["location"] == "/"
        assert signed_in(first)  # the dashboard, not the login page
    with browser(server) as second:
        again = second.get(body["path"])
        assert again.status_code == 200 and "used already" in again.text
        assert not signed_in(second)
    log = server.log_text()
    assert body["code"] not in log and "/login?code=***" in log


def test_a_link_goes_on_to_next(server: Server) -> None:
    code = ask_link(server, server.token).json()["code"]
    with browser(server) as client:
        redeemed = client.get(f"/login?code={code}&next=/cameras")
        assert redeemed.headers["location"] == "/cameras"
        assert client.get("/cameras").status_code == 200


def test_an_expired_link_is_refused(server: Server) -> None:
    path = ask_link(server, server.token).json()["path"]
    time.sleep(TTL_S + 0.5)
    with browser(server) as client:
        refused = client.get(path)
        assert refused.status_code == 200 and "expired" in refused.text
        assert not signed_in(client)


def test_a_revoked_tokens_link_is_refused(server: Server) -> None:
    auth = AuthService(data_dir(server))  # the CLI's view of the same token file
    issued = auth.create("short-lived", "viewer")
    path = ask_link(server, issued.token).json()["path"]  # any token may ask, for itself
    auth.revoke(issued.info.id)
    with browser(server) as client:
        assert "revoked" in client.get(path).text
        assert not signed_in(client)


def test_no_link_without_a_token(server: Server) -> None:
    assert_error(ask_link(server, None), 401, "unauthorized")
    assert_error(ask_link(server, "apl_00000000_" + "x" * 43), 401, "unauthorized")
    with browser(server) as client:
        assert "not valid" in client.get("/login?code=made-up").text


def test_the_schema_documents_it(server: Server) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    operation = schema["paths"]["/v1/auth/login-links"]["post"]
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/LoginLinkOut")
    for status in ("401", "403", "409"):
        error = operation["responses"][status]["content"]["application/json"]["schema"]
        assert error["$ref"].endswith("/ErrorBody"), status


@pytest.mark.anyio
async def test_with_authentication_off_no_link_is_needed(client: httpx.AsyncClient) -> None:
    """APPLIANCE_AUTH=0 (the `client` fixture): the dashboard has no sign-in to skip."""
    assert_error(await client.post("/v1/auth/login-links"), 409, "conflict")
