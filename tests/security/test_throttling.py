"""Failed authentication against a real `appliance serve` (uvicorn on loopback): lockouts per
client address (429 with Retry-After, before any credential is read), X-Forwarded-For from
a trusted proxy only, one audit line per failure and per admin action, and the counters.

Each test sends from its own loopback address (Linux routes all of 127/8 to lo), so their
lockouts never meet: that they do not is one of the things tested.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from helpers import Server, assert_error, start_server
from websockets.exceptions import InvalidStatus

LOCKOUT_S = 3  # APPLIANCE_AUTH_LOCKOUT_S: short, so the end of a lockout is seen
PROXY = "127.0.0.50"  # APPLIANCE_TRUSTED_PROXIES


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"APPLIANCE_AUTH_LOCKOUT_S": str(LOCKOUT_S), "APPLIANCE_TRUSTED_PROXIES": PROXY}
    with start_server(tmp_path_factory.mktemp("throttle"), auth=True, env=env) as running:
        yield running


def client_from(server: Server, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=20)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_id(server: Server) -> str:
    assert server.token
    return server.token.split("_")[1]


def wrong_token(server: Server) -> str:
    """The admin token's id with another secret: a guess at the admin token."""
    return f"apl_{admin_id(server)}_{'G' * 43}"


async def ws_refusal(url: str, headers: dict[str, str], address: str) -> tuple[int, dict]:
    """The status and body a WebSocket handshake from `address` is refused with."""
    try:
        async with websockets.connect(url, additional_headers=headers, local_addr=(address, 0)):
            pytest.fail("the handshake was accepted")
    except InvalidStatus as refused:
        return refused.response.status_code, json.loads(refused.response.body or b"{}")


def lock_out(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    """Guess until refused with 429; that happens on the 11th try at the latest."""
    statuses = []
    for _ in range(11):
        response = http.get("/v1/cameras", headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses == [401] * 10 + [429], statuses
    return response


def audit_lines(server: Server, request_id: str) -> list[str]:
    return [
        line
        for line in server.log_text().splitlines()
        if f"| {request_id} |" in line and " - audit " in line
    ]


def test_a_valid_token_is_never_throttled(server: Server) -> None:
    assert server.token
    with client_from(server, "127.0.0.2") as http:
        statuses = {http.get("/v1/cameras", headers=bearer(server.token)).status_code}
        for _ in range(199):
            statuses.add(http.get("/v1/cameras", headers=bearer(server.token)).status_code)
    assert statuses == {200}


def test_wrong_tokens_lock_the_address_out_before_credentials_are_read(server: Server) -> None:
    assert server.token
    with client_from(server, "127.0.0.3") as http:
        refused = lock_out(http, bearer(wrong_token(server)))
        assert_error(refused, 429, "too_many_failures")
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= LOCKOUT_S
        # the right token, a write, a WebSocket: all refused unread while locked out
        right = http.get("/v1/cameras", headers=bearer(server.token))
        assert_error(right, 429, "too_many_failures")
        write = http.post("/v1/cameras", headers=bearer(server.token), content=b"{not json")
        assert_error(write, 429, "too_many_failures")
        url = f"{server.ws_url}/v1/events"
        status, body = asyncio.run(ws_refusal(url, bearer(wrong_token(server)), "127.0.0.3"))
        assert status == 429 and body["error"]["code"] == "too_many_failures"
        for open_path in ("/healthz", "/readyz", "/v2/health/live", "/openapi.json"):
            assert http.get(open_path).status_code == 200, open_path
        with client_from(server, "127.0.0.4") as other:  # another address: unaffected
            assert other.get("/v1/cameras", headers=bearer(server.token)).status_code == 200
            wrong = other.get("/v1/cameras", headers=bearer(wrong_token(server)))
            assert_error(wrong, 401, "unauthorized")
        time.sleep(retry_after + 0.2)
        assert http.get("/v1/cameras", headers=bearer(server.token)).status_code == 200


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(server: Server) -> None:
    assert server.token
    guess = bearer(wrong_token(server))
    with client_from(server, PROXY) as proxy:
        lock_out(proxy, {**guess, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        as_locked = {**bearer(server.token), "X-Forwarded-For": "203.0.113.7"}
        assert_error(proxy.get("/v1/cameras", headers=as_locked), 429, "too_many_failures")
        someone_else = {**bearer(server.token), "X-Forwarded-For": "203.0.113.8"}
        assert proxy.get("/v1/cameras", headers=someone_else).status_code == 200
        assert proxy.get("/v1/cameras", headers=bearer(server.token)).status_code == 200
    with client_from(server, "127.0.0.51") as direct:  # not trusted: its header is ignored
        assert direct.get("/v1/cameras", headers=as_locked).status_code == 200
        lock_out(direct, {**guess, "X-Forwarded-For": "203.0.113.9"})
    with client_from(server, PROXY) as proxy:  # ...so it locked itself out, not 203.0.113.9
        innocent = {**bearer(server.token), "X-Forwarded-For": "203.0.113.9"}
        assert proxy.get("/v1/cameras", headers=innocent).status_code == 200
    log = server.log_text()
    assert "client=203.0.113.7 reason=bad_token" in log
    assert "client=127.0.0.51 reason=bad_token" in log and "client=203.0.113.9" not in log
    assert re.search(r'203\.0\.113\.7 via 127\.0\.0\.50:\d+ "GET /v1/cameras" 429', log)


def test_one_audit_line_per_failure_and_per_admin_action(server: Server) -> None:
    assert server.token
    token_id, admin = admin_id(server), bearer(server.token)
    with client_from(server, "127.0.0.5") as http:
        failed = http.get("/v1/cameras", headers=bearer(wrong_token(server)))
        bad_sig = http.get("/v1/cameras/door/snapshot.jpg?exp=9999999999&sig=forged")
        added = http.post(
            "/v1/cameras", headers=admin, json={"name": "Door", "uri": "demo://", "enabled": False}
        )
        removed = http.delete("/v1/cameras/door", headers=admin)
        no_model = http.delete("/v1/models/nope", headers=admin)
        no_job = http.post("/v1/jobs/nope/cancel", headers=admin)
    assert (failed.status_code, bad_sig.status_code) == (401, 401)
    assert (added.status_code, removed.status_code) == (201, 204)
    assert (no_model.status_code, no_job.status_code) == (404, 404)
    me = "client=127.0.0.5"
    expected = {
        failed: f"audit auth.failed outcome=denied {me} reason=bad_token token_id={token_id} "
        "path=/v1/cameras",
        bad_sig: f"audit auth.failed outcome=denied {me} reason=bad_signature "
        "path=/v1/cameras/door/snapshot.jpg",
        added: f"audit camera.add outcome=ok {me} token_id={token_id} target=door",
        removed: f"audit camera.remove outcome=ok {me} token_id={token_id} target=door",
        no_model: f"audit model.delete outcome=failed error=model_not_found {me} "
        f"token_id={token_id} target=nope",
        no_job: f"audit job.cancel outcome=failed error=job_not_found {me} "
        f"token_id={token_id} target=nope",
    }
    for response, text in expected.items():
        (line,) = audit_lines(server, response.headers["x-request-id"])  # exactly one
        assert line.endswith(text), line


def test_no_secret_reaches_the_log(server: Server) -> None:
    assert server.token
    with client_from(server, "127.0.0.8") as http:
        http.get("/v1/cameras", headers=bearer(server.token))
        http.get("/v1/cameras", headers=bearer(wrong_token(server)))
        http.get("/v1/cameras", headers={"Authorization": "Bearer hunter2-not-a-token"})
    log = server.log_text()
    for secret in (server.token.split("_", 2)[2], "G" * 43, "hunter2"):
        assert secret not in log


def _samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith("appliance_auth_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_counters_rise_on_metrics(server: Server) -> None:
    assert server.token
    with client_from(server, "127.0.0.6") as reader:
        before = _samples(reader.get("/metrics", headers=bearer(server.token)).text)
        with client_from(server, "127.0.0.7") as guesser:
            lock_out(guesser, bearer(wrong_token(server)))
        after = _samples(reader.get("/metrics", headers=bearer(server.token)).text)
    bad, locked = (
        'appliance_auth_failures_total{reason="bad_token"}',
        'appliance_auth_failures_total{reason="locked_out"}',
    )
    assert after[bad] == before[bad] + 10
    assert after[locked] == before[locked] + 1
    assert after["appliance_auth_lockouts_total"] == before["appliance_auth_lockouts_total"] + 1
    assert before['appliance_auth_failures_total{reason="bad_password"}'] == 0  # listed at 0
