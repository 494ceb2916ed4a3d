"""A NiceGUI `User` on the real app with the dashboard mounted, lifespan running.

NiceGUI's stock `user` fixture builds its own app and never sees one mounted with
`ui.run_with`, so this builds the User over `httpx.ASGITransport` on our app inside
`asgi_lifespan.LifespanManager`, with NiceGUI's globals reset around each test (its pages
and app live in module state: one dashboard per process).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import wait_ready
from nicegui import ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing.general import nicegui_reset_globals
from nicegui.testing.user import User
from ui_harness import Dashboard, until

from appliance.app import create_app
from appliance.settings import Settings

DEMO_CAMERA = {"id": "demo", "name": "Demo scene", "uri": "demo://"}


@pytest.fixture
def cameras() -> list[dict]:
    """The cameras saved in the data dir before start; override in a test module."""
    return [DEMO_CAMERA]


@pytest.fixture
def auth() -> bool:
    """Authentication off, as for the other API tests; override to sign in (test_auth.py)."""
    return False


@pytest.fixture
async def dashboard(
    settings: Settings, cameras: list[dict], auth: bool
) -> AsyncIterator[Dashboard]:
    config = {"schema_version": 1, "cameras": cameras}
    (settings.data_dir / "config.json").write_text(json.dumps(config))
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            app = create_app(settings.model_copy(update={"dashboard": True, "auth": auth}))
            async with LifespanManager(app, startup_timeout=60) as manager:
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://appliance"
                ) as http:
                    await wait_ready(http)
                    services = app.state.services
                    # ready means the models loaded; the cameras are restored just after
                    wanted = {camera["id"] for camera in cameras}
                    await until(lambda: wanted <= {v.config.id for v in services.cameras.list()})
                    yield Dashboard(User(http), services, http)
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
            ui.navigate, ui.notify, ui.download = Navigate(), notify, download
