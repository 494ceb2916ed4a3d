"""API paths nobody serves still get the API's 404/405 body when the dashboard owns `/`.

The dashboard is mounted at `/`, so its mount matches every path: without these catch-all
routes, `GET /v1/nope` would get the dashboard's HTML 404 page and `GET /v1/detect` (a POST
route) that page instead of a 405.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

API_PREFIXES = ("/v1", "/v2")
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def install_api_fallback(app: FastAPI) -> None:
    """Call after every API route is added and before the dashboard is mounted."""
    own: list[BaseRoute] = []

    async def not_served(request: Request) -> None:
        allowed = _methods_for(app, request, skip=own)
        if allowed:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        raise HTTPException(404)

    for prefix in API_PREFIXES:
        app.add_api_route(
            f"{prefix}/{{rest:path}}", not_served, methods=_METHODS, include_in_schema=False
        )
        own.append(app.router.routes[-1])


def _methods_for(app: FastAPI, request: Request, skip: list[BaseRoute]) -> set[str]:
    """Methods of the routes whose path matches this request's (a partial match)."""
    allowed: set[str] = set()
    for route in _flat_routes(app):
        if route in skip:
            continue
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            allowed |= set(getattr(route, "methods", None) or ())
    return allowed


def _flat_routes(app: FastAPI) -> Iterator[BaseRoute]:
    """Every route with its full path: FastAPI 0.141+ keeps an included router as one lazy
    entry whose own `methods` is empty."""
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:
        yield from app.router.routes
        return
    for context in iter_contexts(app.router.routes):
        yield context.route
