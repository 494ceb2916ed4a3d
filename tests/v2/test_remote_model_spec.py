"""A model spec `name=triton://host:port/model` serves detections from another appliance (a
real one, over loopback): the small device hands inference to the big one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import Scene, Server, assert_finds_scene, start_server, wait_ready

from appliance.app import create_app
from appliance.models.demo import DEMO_MODEL_NAME
from appliance.settings import Settings


@pytest.fixture(scope="module")
def big_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("big-box")) as running:
        yield running


@pytest.mark.anyio
async def test_a_triton_spec_detects_through_the_remote_appliance(
    big_box: Server, tmp_path: Path, scene: Scene
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    remote = f"triton://127.0.0.1:{big_box.port}/{DEMO_MODEL_NAME}"
    settings = Settings(
        data_dir=data, models=["demo", f"edge={remote}"], intra_op_threads=2, dashboard=False
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://small") as http:
            await wait_ready(http)
            ready = {m["name"]: m for m in (await http.get("/readyz")).json()["models"]}
            assert ready["edge"]["backend"] == "triton"
            assert ready["edge"]["device"] == f"remote 127.0.0.1:{big_box.port}"
            response = await http.post(
                "/v1/detect",
                params={"model": "edge", "conf": 0.4},
                content=scene.jpeg(),
                headers={"content-type": "image/jpeg"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["model"]["name"] == "edge"
            assert_finds_scene(response.json(), scene.where)
            names = [m["name"] for m in (await http.get("/v1/models")).json()["models"]]
            assert "edge" not in names  # its file lives on the server: not in this repository
