"""Credentials handled before routing, in one ASGI middleware:

- WebSockets from browsers cannot set headers: `?access_token=` is moved into an
  `Authorization: Bearer` header (and out of the query, whose route models forbid unknown
  fields). Plain HTTP keeps its query as sent: there a token belongs in the header, and
  `<img>` tags use signed URLs.
- A request that may carry a body (anything but GET/HEAD/OPTIONS) under /v1 or /v2 needs a
  valid bearer token (or the dashboard's session cookie with its header) before its body is
  read: an anonymous client cannot make the server buffer or parse anything, and gets 401,
  not a 422 about its JSON. Scopes are checked later, by the routers' `Access` dependencies
  (api/auth.py), which also cover reads. A client locked out for failing too often
  (services/auth_guard.py) gets 429 before its token is looked at; a bad token counts as one
  more failure. The exception: routes whose credential may come in the body itself
  (DeepStack's `api_key` form field, BODY_CREDENTIAL_PATHS) check it themselves, lockout
  first, reading at most the upload limit (api/routes/deepstack.py).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.api.auth import dashboard_session
from appliance.api.errors import appliance_error_response, error_response
from appliance.auth.tokens import token_id_of
from appliance.errors import TooManyFailuresError
from appliance.services.container import Services

QUERY_TOKEN = "access_token"
_GATED_PREFIXES = ("/v1/", "/v2/")
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_CREDENTIAL_PATHS = frozenset({"/v1/vision/detection"})


class CredentialsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and QUERY_TOKEN.encode() in scope["query_string"]:
            scope = _token_moved_to_header(scope)
        elif scope["type"] == "http" and _gated(scope):
            try:
                valid = _has_valid_token(scope)
            except TooManyFailuresError as exc:
                await appliance_error_response(exc)(scope, receive, send)
                return
            if not valid:
                response = error_response(
                    401,
                    "unauthorized",
                    "send Authorization: Bearer <token>",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _gated(scope: Scope) -> bool:
    services: Services = scope["app"].state.services
    return (
        services.auth.enabled
        and scope["method"] not in _NO_BODY
        and scope["path"].startswith(_GATED_PREFIXES)
        and scope["path"] not in BODY_CREDENTIAL_PATHS
    )


def _has_valid_token(scope: Scope) -> bool:
    """TooManyFailuresError first when the client is locked out; a token sent and refused
    is a failure (none sent is not: that is no guess)."""
    services: Services = scope["app"].state.services
    guard = services.auth.guard
    key = (guard.client_address(HTTPConnection(scope)),)
    guard.check(key)
    header = Headers(scope=scope).get("authorization")
    if header is None:
        return dashboard_session(HTTPConnection(scope), services.auth) is not None
    kind, _, token = header.partition(" ")
    if kind.lower() == "bearer" and services.auth.verify(token) is not None:
        return True
    guard.failed(key, "bad_token", token_id=token_id_of(token), path=scope["path"])
    return False


def _token_moved_to_header(scope: Scope) -> Scope:
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    tokens = [value for name, value in pairs if name == QUERY_TOKEN]
    if not tokens:
        return scope
    rest = urlencode([(name, value) for name, value in pairs if name != QUERY_TOKEN])
    headers = list(scope["headers"])
    if not any(name == b"authorization" for name, _ in headers):  # a real header wins
        headers.append((b"authorization", f"Bearer {tokens[0]}".encode("latin-1")))
    return {**scope, "query_string": rest.encode("latin-1"), "headers": headers}
