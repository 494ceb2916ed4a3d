"""What the `secured` fixture (conftest.py) yields: a module of its own, so that test modules
import it by a name no other test folder uses."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import StarletteDeprecationWarning

from appliance.auth.scopes import Scope
from appliance.services.auth import AuthService

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2 over httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


@dataclass
class Secured:
    client: TestClient
    auth: AuthService
    data_dir: Path
    tokens: dict[Scope, str]  # a token of each scope

    def headers(self, scope: Scope | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
