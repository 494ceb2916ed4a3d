"""What a dashboard test gets: a NiceGUI User, the app's services and a plain HTTP client
on the same app (its own module name: `conftest` is taken by every test folder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from nicegui.testing.user import User

from appliance.services.container import Services


@dataclass
class Dashboard:
    user: User
    services: Services
    http: httpx.AsyncClient


async def until(condition: Any, timeout: float = 30.0) -> None:
    """Wait until `condition()` is true (a failure after `timeout` seconds)."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.05)


def only(dashboard: Dashboard, marker: str) -> Any:
    """The one element with `marker` on the page."""
    (element,) = dashboard.user.find(marker=marker).elements
    return element


async def sign_in(dashboard: Dashboard, then: str = "/", **form: str) -> None:
    """Post the login page's form (`token=` or `name=` and `password=`) as the browser does,
    then open `then` with the session cookie it set."""
    answer = await dashboard.http.post("/auth/session", data={**form, "next": then})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == then, answer.headers["location"]
    await dashboard.user.open(then)


async def sign_in_as_viewer(dashboard: Dashboard, page: str) -> None:
    """Sign the dashboard in with a new viewer token, then open `page`."""
    issued = dashboard.services.auth.create("wall screen", "viewer")
    await sign_in(dashboard, page, token=issued.token)
