"""Shared fixtures: the composed scene, settings on a temporary data dir, a real app."""

from __future__ import annotations

import os

# Authentication is on by default; tests run with it off unless they ask for it (tests/security:
# Settings(auth=True), start_server(auth=True)). Set before any Settings() is built, and
# inherited by every `appliance` subprocess a test starts.
os.environ.setdefault("APPLIANCE_AUTH", "0")

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import RtspServer, Scene, compose_scene, free_port, wait_ready

from appliance.app import create_app
from appliance.settings import Settings


@pytest.fixture(scope="session")
def scene() -> Scene:
    return compose_scene()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on a fresh data dir whose saved configuration has no cameras, so API tests
    do not share the CPU with the demo camera (camera tests add their own). file://
    cameras may read the session's temporary folders (clips the tests write)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    return Settings(
        data_dir=data_dir,
        models=["demo"],
        intra_op_threads=2,
        dashboard=False,
        media_dirs=[tmp_path_factory.getbasetemp()],
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on a real app whose lifespan ran and whose models are warm."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as http:
            await wait_ready(http)
            yield http


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A real RTSP server on a free loopback port (skip the test where none is installed)."""
    running = RtspServer(free_port())
    running.start()
    yield running
    running.kill()
