"""What a dashboard test gets: a NiceGUI User, the app's services and a plain HTTP client
on the same app (its own module name: `conftest` is taken by every test folder)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from nicegui.testing.user import User

from appliance.services.container import Services


@dataclass
class Dashboard:
    user: User
    services: Services
    http: httpx.AsyncClient
