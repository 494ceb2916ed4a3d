"""Who may call what: FastAPI dependencies that check the caller's token and scope.

Each router is included with one `Access` (app.py); it reads `Authorization: Bearer <token>`
(WebSockets may send `?access_token=`, moved into that header by api/credentials.py), the
dashboard's session cookie when the request also carries the `X-Appliance-Session` header
(which a page on another site cannot send: the cookie alone is ignored), or, for read
access, a signed URL (`?exp=…&sig=…`, see AuthService.sign). Without a valid
credential: 401 with `WWW-Authenticate: Bearer`; with too small a scope: 403. A client locked
out after failing too often (services/auth_guard.py) gets 429 before any credential is read.
On a WebSocket all are sent before the handshake is accepted, as an HTTP response with the
same error body (ASGI's WebSocket denial response; uvicorn supports it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from appliance.api.schemas import ErrorBody
from appliance.auth.scopes import SIGNED_URL, Principal, Scope
from appliance.auth.sessions import COOKIE, HEADER
from appliance.auth.signing import Signature
from appliance.auth.tokens import token_id_of
from appliance.services.auth import AuthService, SignedIn
from appliance.services.container import Services

ScopeRule = Callable[[HTTPConnection], "Scope | None"]  # None: open to anyone

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid token (or signed URL) was sent"},
    403: {"model": ErrorBody, "description": "The token's scope is too small for this"},
    429: {
        "model": ErrorBody,
        "description": "Too many failed authentications from this client (Retry-After)",
    },
}
_READS = frozenset({"GET", "HEAD"})


class Access(SecurityBase):
    """A dependency that lets a request through when its credential's scope covers what
    `rule` asks of it. A SecurityBase, so /docs shows the Bearer scheme and its Authorize
    button; it takes an HTTPConnection, so it guards WebSockets too."""

    def __init__(self, rule: ScopeRule, description: str) -> None:
        self.rule = rule
        self.model = HTTPBearerModel(bearerFormat="apl_<id>_<secret>", description=description)
        self.scheme_name = "bearer"  # one scheme in the schema, whatever the rule

    async def __call__(self, connection: HTTPConnection) -> Principal | None:
        needed = self.rule(connection)
        if needed is None:
            return None
        services: Services = connection.app.state.services
        principal = authenticate(connection, services)
        if not principal.allows(needed):
            raise HTTPException(
                403, f"this needs scope {needed.label}; the credential has {principal.scope.label}"
            )
        connection.state.principal = principal
        return principal


def authenticate(connection: HTTPConnection, services: Services) -> Principal:
    """The caller's principal: a bearer token, else the dashboard's session (cookie and
    header), else a signed URL for this very path. A locked-out client is refused first; a
    credential sent and refused counts against it."""
    auth, guard, path = services.auth, services.auth.guard, connection.url.path
    key = (guard.client_address(connection),)
    guard.check(key)  # TooManyFailuresError: 429, nothing below is looked at
    header = connection.headers.get("authorization")
    if header is not None:
        kind, _, token = header.partition(" ")
        principal = auth.verify(token) if kind.lower() == "bearer" else None
        if principal is None:
            guard.failed(key, "bad_token", token_id=token_id_of(token), path=path)
            raise _unauthorized("the bearer token is invalid or revoked")
        return principal
    if connection.headers.get(HEADER):
        signed = dashboard_session(connection, auth)
        if signed is None:
            raise _unauthorized("the dashboard session has ended: sign in again")
        if signed.must_change:
            raise HTTPException(403, "choose a new password in the dashboard first")
        return signed.principal
    if "sig" in connection.query_params:
        signature = auth.signature(path, connection.query_params)
        if signature is Signature.VALID:
            return SIGNED_URL
        if signature is Signature.INVALID:  # an expired one of ours is no guess
            guard.failed(key, "bad_signature", path=path)
        raise _unauthorized("the signed URL is invalid or expired")
    raise _unauthorized("send Authorization: Bearer <token>")


def dashboard_session(connection: HTTPConnection, auth: AuthService) -> SignedIn | None:
    """The session named by the cookie, only when the request also carries the header the
    dashboard's pages set (a cookie alone is what a cross-site form would send)."""
    if not connection.headers.get(HEADER):
        return None
    session_id = connection.cookies.get(COOKIE)
    return auth.session(session_id) if session_id else None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


_DOC = "Token from `appliance token create` (the first admin one: `appliance token show`)."


def require(scope: Scope) -> Access:
    """Every route of the router needs `scope`."""
    return Access(lambda _: scope, _DOC)


def reads_and_writes(write: Scope) -> Access:
    """GET/HEAD and WebSockets (which only stream out) need viewer, everything else `write`."""

    def rule(connection: HTTPConnection) -> Scope:
        if connection.scope["type"] == "websocket" or connection.scope["method"] in _READS:
            return Scope.VIEWER
        return write

    return Access(rule, _DOC)


def _v2_rule(connection: HTTPConnection) -> Scope | None:
    """Open Inference Protocol: probes open, inference operator, load/unload admin, the
    rest (metadata, the repository index) viewer. By route template, not raw path, so a
    model named "infer" changes nothing."""
    template: str = getattr(connection.scope.get("route"), "path", "")
    if template.startswith("/v2/health/"):
        return None  # load balancers and Kubernetes probes carry no token
    if template.endswith("/infer"):
        return Scope.OPERATOR
    if template.startswith("/v2/repository/models/"):
        return Scope.ADMIN
    return Scope.VIEWER


V2_ACCESS = Access(_v2_rule, _DOC)

# What each router needs (app.py includes them with these).
VIEWER = require(Scope.VIEWER)
OPERATOR = require(Scope.OPERATOR)
OPERATOR_WRITES = reads_and_writes(Scope.OPERATOR)
ADMIN_WRITES = reads_and_writes(Scope.ADMIN)


def guard(access: Access, enabled: bool) -> dict[str, Any]:
    """`include_router` arguments that put `access` in front of a router (nothing when
    authentication is off, so /docs shows no lock there either)."""
    if not enabled:
        return {}
    return {"dependencies": [Depends(access)], "responses": AUTH_RESPONSES}
