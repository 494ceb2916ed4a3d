"""Helpers shared by the robustness tests: apps built from changed settings."""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from helpers import wait_ready
from starlette.exceptions import StarletteDeprecationWarning

from appliance.app import create_app
from appliance.settings import Settings

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2 over httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def derive(settings: Settings, **changes: object) -> Settings:
    """The test's settings (fresh data dir, see tests/conftest.py) with some fields changed."""
    return Settings(**{**settings.model_dump(), **changes})


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A real app built from `settings`, its lifespan running and its models warm."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as http:
            await wait_ready(http)
            yield app, http


@contextmanager
def ws_client(settings: Settings) -> Iterator[TestClient]:
    """Starlette's TestClient (it speaks WebSocket) on a real app whose models are warm."""
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "models never became ready"
            time.sleep(0.05)
        yield client
