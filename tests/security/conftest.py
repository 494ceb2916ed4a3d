"""An app with authentication on (the rest of the suite runs with it off) and a token of
each scope."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from secured_app import Secured
from starlette.exceptions import StarletteDeprecationWarning

from appliance.app import create_app
from appliance.auth.scopes import Scope
from appliance.services.auth import AuthService
from appliance.settings import Settings

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2 over httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def secured_settings(data_dir: Path, **changes: object) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    return Settings(
        data_dir=data_dir,
        models=["demo"],
        intra_op_threads=2,
        dashboard=False,
        auth=True,
        **changes,
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """One app per module (the model loads once), its lifespan running, models warm. Its
    tests send many refused credentials from one client: lockouts are not what they test
    (test_throttling.py does), so the limit is out of their way."""
    settings = secured_settings(tmp_path_factory.mktemp("secured") / "data", auth_max_failures=1000)
    app = create_app(settings)
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "models never became ready"
            time.sleep(0.05)
        auth: AuthService = app.state.services.auth
        tokens = {scope: auth.create(f"test {scope}", scope).token for scope in Scope}
        yield Secured(client, auth, settings.data_dir, tokens)
