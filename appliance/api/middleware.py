"""Per-request context: request id, Server-Timing, one access-log line, last-resort 500s.

Written as plain ASGI so it sees WebSockets too and adds no per-request task overhead.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from loguru import logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance.api.context import REQUEST_ID
from appliance.api.errors import error_response
from appliance.auth.redact import redact

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def incoming_request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    given = Headers(scope=scope).get("x-request-id", "")
    return given if _VALID_ID.match(given) else uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/v1/cameras/{camera_id}"): bounded label values,
    unlike raw paths."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def server_timing(stages: dict[str, float], total_ms: float) -> str:
    parts = [f"{name};dur={ms:.2f}" for name, ms in stages.items()]
    return ", ".join([*parts, f"total;dur={total_ms:.2f}"])


ResponseObserver = Callable[[str, str, int, float], None]  # method, route template, status, s
ClientAddress = Callable[[HTTPConnection], str]  # AuthGuard.client_address


def _peer(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client is not None else "-"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        on_response: ResponseObserver | None = None,
        client_address: ClientAddress = _peer,
    ) -> None:
        self.app = app
        self._on_response = on_response
        self._client_address = client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        stages: dict[str, float] = {}
        state = scope.setdefault("state", {})
        state["request_id"], state["server_timing"] = request_id, stages
        start = time.perf_counter()
        status: int | str = "ws" if scope["type"] == "websocket" else 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "websocket.http.response.start":  # a refused handshake
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - start
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["Server-Timing"] = server_timing(stages, elapsed * 1000)
                if self._on_response is not None:
                    self._on_response(scope["method"], route_template(scope), status, elapsed)
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            with logger.contextualize(request_id=request_id):
                try:
                    await self.app(scope, receive, send_with_headers)
                except Exception:
                    logger.exception(
                        "unhandled error in {} {}", scope.get("method", "WS"), scope["path"]
                    )
                    if status != 0:
                        raise  # the response had begun: nothing sane left to send
                    response = error_response(500, "internal_error", "internal server error")
                    await response(scope, receive, send_with_headers)
                finally:
                    _access_log(scope, self._client_address(HTTPConnection(scope)), status, start)
        finally:
            REQUEST_ID.reset(token)


def _access_log(scope: Scope, client: str, status: int | str, start: float) -> None:
    """`client` is the address throttling and audit use; the peer's own is added when a
    trusted proxy forwarded the request."""
    peer, port = scope.get("client") or ("-", 0)
    who = f"{peer}:{port}" if client == peer else f"{client} via {peer}:{port}"
    query = redact(scope.get("query_string", b"").decode("latin-1"))  # ?access_token=, sig=
    path = scope["path"] + (f"?{query}" if query else "")
    logger.bind(event="access", status=status, client=client).info(
        '{} "{} {}" {} {:.1f}ms',
        who, scope.get("method", "WS"), path, status, (time.perf_counter() - start) * 1000,
    )  # fmt: skip
