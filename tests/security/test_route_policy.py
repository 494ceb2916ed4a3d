"""Every route in the live OpenAPI schema, and every WebSocket route of the app: 401 without a
token, 403 with too small a scope, through with the scope it needs; public ones open.

The expected scope of each route is written out here from the policy in README
(Authentication), not read from the code that enforces it.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from helpers import assert_error
from secured_app import Secured
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse

from appliance.auth.scopes import Scope
from appliance.auth.sessions import COOKIE, HEADER

PUBLIC = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"}
# the dashboard's sign-in form and sign-out: how one gets (or drops) a session cookie
SIGN_IN = {"/auth/session", "/auth/sign-out"}
WEBSOCKETS = {
    "/v1/detect/ws": Scope.OPERATOR,
    "/v1/cameras/{camera_id}/ws": Scope.VIEWER,
    "/v1/events": Scope.VIEWER,
}
METHODS = ("get", "post", "put", "patch", "delete")
# DeepStack-compatible detection: operator like /v1/detect, its token also accepted as the form
# field `api_key`, its refusals in DeepStack's body ({"success": false, "error": …}).
DEEPSTACK = {"/v1/vision/detection"}


def expected_scope(method: str, path: str) -> Scope | None:
    if path in PUBLIC | SIGN_IN:
        return None
    if path.startswith("/v2/"):
        if path.endswith("/infer"):
            return Scope.OPERATOR
        if path.startswith("/v2/repository/models/"):
            return Scope.ADMIN
        return Scope.VIEWER  # metadata, config, stats, readiness, the repository index
    if method == "get" or path == "/v1/auth/login-links":  # any token, a link for itself
        return Scope.VIEWER
    if path.startswith(("/v1/models", "/v1/jobs")):
        return Scope.ADMIN
    return Scope.OPERATOR  # cameras and detection


def assert_refused(response: httpx.Response, status: int, code: str, path: str) -> None:
    """The route's error body: the API's standard one, or DeepStack's on its route."""
    if path not in DEEPSTACK:
        assert_error(response, status, code)
        return
    assert response.status_code == status, (path, response.text)
    body = response.json()
    assert body["success"] is False and body["code"] == status and body["error"], body


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope", path)


def schema_routes(secured: Secured) -> list[tuple[str, str]]:
    schema = secured.client.get("/openapi.json").json()
    return [(m, p) for p, item in schema["paths"].items() for m in METHODS if m in item]


def test_the_schema_lists_every_route_group(secured: Secured) -> None:
    paths = {p for _, p in schema_routes(secured)}
    for prefix in ("/v1/detect", "/v1/cameras", "/v1/models", "/v1/jobs", "/v1/system", "/v2/"):
        assert any(p.startswith(prefix) for p in paths), prefix
    assert PUBLIC | SIGN_IN | {"/metrics"} <= paths


def test_every_http_route_needs_its_scope(secured: Secured) -> None:
    client, checked = secured.client, 0
    for method, path in schema_routes(secured):
        url, needed = concrete(path), expected_scope(method, path)
        anonymous = client.request(method, url)
        if needed is None:
            assert anonymous.status_code not in (401, 403), (method, path)
            continue
        assert_refused(anonymous, 401, "unauthorized", path)
        assert anonymous.headers["www-authenticate"] == "Bearer", (method, path)
        for smaller in (s for s in Scope if s < needed):
            too_small = client.request(method, url, headers=secured.headers(smaller))
            assert_refused(too_small, 403, "forbidden", path)
        enough = client.request(method, url, headers=secured.headers(needed))
        assert enough.status_code not in (401, 403), (method, path, enough.text)
        checked += 1
    assert checked >= 25  # the whole API, not an empty schema


def test_a_session_cookie_opens_routes_only_with_the_page_header(secured: Secured) -> None:
    """The dashboard's cookie without its header (all a cross-site form or <img> can send) is
    no credential on any route; with the header, it is the user's role, like a token."""
    if "cookie-admin" not in {u.name for u in secured.auth.list_users()}:
        secured.auth.add_user("cookie-admin", "admin", "a long password")
    principal = secured.auth.check_password("cookie-admin", "a long password")
    assert principal is not None
    cookie = {"Cookie": f"{COOKIE}={secured.auth.open_session(principal).id}"}
    client, checked = secured.client, 0
    for method, path in schema_routes(secured):
        if expected_scope(method, path) is None:
            continue
        url = concrete(path)
        assert_refused(client.request(method, url, headers=cookie), 401, "unauthorized", path)
        with_header = client.request(method, url, headers={**cookie, HEADER: "1"})
        assert with_header.status_code not in (401, 403), (method, path, with_header.text)
        checked += 1
    assert checked >= 25


UNKNOWN = "Bearer apl_00000000_" + "x" * 43


@pytest.mark.parametrize("header", ["Bearer nonsense", UNKNOWN, "Basic Zm9vOmJhcg==", "Bearer"])
def test_malformed_unknown_or_other_kinds_of_credentials_are_refused(
    secured: Secured, header: str
) -> None:
    for method, url in (("GET", "/v1/cameras"), ("POST", "/v1/cameras")):
        response = secured.client.request(method, url, headers={"Authorization": header})
        assert_error(response, 401, "unauthorized")


def test_an_anonymous_write_is_refused_before_its_body_is_read(secured: Secured) -> None:
    """401, not a 422 about the malformed JSON it sent."""
    response = secured.client.post(
        "/v1/cameras", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("path", sorted(DEEPSTACK))
def test_the_api_key_field_is_a_token_with_the_same_scope_rule(secured: Secured, path: str):
    """DeepStack's clients send their key in the form: no key or a wrong one 401, a viewer's
    403, an operator's or an admin's through (here to a 400: the image is no image)."""
    files = {"image": ("frame.jpg", b"not a jpeg", "image/jpeg")}
    for key, status in (("", 401), ("apl_00000000_" + "x" * 43, 401)):
        refused = secured.client.post(path, data={"api_key": key}, files=files)
        assert_refused(refused, status, "unauthorized", path)
    for scope in Scope:
        answer = secured.client.post(path, data={"api_key": secured.tokens[scope]}, files=files)
        expected = 403 if scope < Scope.OPERATOR else 400
        assert_refused(answer, expected, "", path)


def test_docs_and_schema_stay_open(secured: Secured) -> None:
    for url in ("/docs", "/openapi.json"):
        assert secured.client.get(url).status_code == 200
    schemes = secured.client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"  # /docs offers its Authorize button


def _websocket_paths(app: FastAPI) -> set[str]:
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    routes: list[BaseRoute] = (
        [c.route for c in iter_contexts(app.router.routes)] if iter_contexts else app.routes
    )
    kinds = (WebSocketRoute, fastapi_routing.APIWebSocketRoute)
    return {r.path for r in routes if isinstance(r, kinds)}  # type: ignore[attr-defined]


def _denied(secured: Secured, url: str, headers: dict[str, str]) -> WebSocketDenialResponse:
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        secured.client.websocket_connect(url, headers=headers),
    ):
        pass
    return refused.value


def test_every_websocket_route_needs_its_scope(secured: Secured) -> None:
    """Refused before the handshake is accepted: an HTTP 401/403 with the error body."""
    app: FastAPI = secured.client.app  # type: ignore[assignment]
    assert _websocket_paths(app) == set(WEBSOCKETS)
    for path, needed in WEBSOCKETS.items():
        url = concrete(path).replace("nope", "missing")
        anonymous = _denied(secured, url, {})
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.headers["x-request-id"] == anonymous.json()["error"]["request_id"]
        for smaller in (s for s in Scope if s < needed):
            too_small = _denied(secured, url, secured.headers(smaller))
            assert too_small.status_code == 403
            assert too_small.json()["error"]["code"] == "forbidden"
        # a browser cannot set headers: ?access_token= does the same
        query = f"{'&' if '?' in url else '?'}access_token={secured.tokens[needed]}"
        if path == "/v1/cameras/{camera_id}/ws":
            continue  # an unknown camera: checked with a real one in test_signed_urls
        with secured.client.websocket_connect(url + query):
            pass


def test_a_weaker_query_token_does_not_override_a_header(secured: Secured) -> None:
    """The header wins over ?access_token=: a page cannot lower (or raise) its own scope."""
    url = f"/v1/detect/ws?access_token={secured.tokens[Scope.ADMIN]}"
    denied = _denied(secured, url, secured.headers(Scope.VIEWER))
    assert denied.status_code == 403
