"""/v1/cameras/{id}/lines and /zones over the real app: drawing, reading, resetting,
removing, the bad inputs that change nothing, and what a restart keeps."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import assert_error, wait_ready, write_clip

from appliance.analytics.lines import Crossing
from appliance.app import create_app
from appliance.settings import Settings

DOOR = {"points": [[0.5, 0.0], [0.5, 1.0]], "classes": ["person"]}
BENCH = {"points": [[0.1, 0.5], [0.6, 0.5], [0.6, 0.9], [0.1, 0.9]]}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "scene.avi", frames=30)


async def add_camera(http: httpx.AsyncClient, clip: Path, camera_id: str = "hall") -> None:
    body = {"id": camera_id, "name": "Hall", "uri": f"file://{clip}", "enabled": False}
    created = await http.post("/v1/cameras", json=body)
    assert created.status_code == 201, created.text


@pytest.mark.anyio
async def test_draw_read_reset_and_remove_lines_and_zones(
    client: httpx.AsyncClient, clip: Path
) -> None:
    await add_camera(client, clip)
    put = await client.put("/v1/cameras/hall/lines/door", json=DOOR)
    assert put.status_code == 200, put.text
    assert put.json() == {
        "name": "door",
        "points": [[0.5, 0.0], [0.5, 1.0]],
        "classes": ["person"],
        "counts": {"in": {}, "out": {}},
    }
    zone = await client.put("/v1/cameras/hall/zones/bench", json={**BENCH, "loiter_s": 30})
    assert zone.status_code == 200, zone.text
    assert zone.json() == {
        "name": "bench",
        "points": BENCH["points"],
        "classes": None,
        "inertia": 3,
        "loiter_s": 30.0,
        "occupancy": {},
        "entered": {},
    }
    assert [
        line["name"] for line in (await client.get("/v1/cameras/hall/lines")).json()["lines"]
    ] == ["door"]
    assert (await client.get("/v1/cameras/hall/zones/bench")).json()["inertia"] == 3
    camera = (await client.get("/v1/cameras/hall")).json()
    assert camera["lines"]["door"]["classes"] == ["person"] and "bench" in camera["zones"]

    moved = await client.put("/v1/cameras/hall/lines/door", json={"points": [[0.4, 0], [0.4, 1]]})
    assert moved.json()["points"] == [[0.4, 0.0], [0.4, 1.0]] and moved.json()["classes"] is None
    reset = await client.post("/v1/cameras/hall/lines/door/reset")
    assert reset.json()["counts"] == {"in": {}, "out": {}}

    assert (await client.delete("/v1/cameras/hall/lines/door")).status_code == 204
    assert_error(await client.get("/v1/cameras/hall/lines/door"), 404, "line_not_found")
    assert_error(await client.delete("/v1/cameras/hall/lines/door"), 404, "line_not_found")
    assert (await client.delete("/v1/cameras/hall/zones/bench")).status_code == 204
    assert (await client.get("/v1/cameras/hall/zones")).json() == {"zones": []}


@pytest.mark.anyio
async def test_lines_and_zones_go_with_their_camera(client: httpx.AsyncClient, clip: Path) -> None:
    await add_camera(client, clip)
    await client.put("/v1/cameras/hall/lines/door", json=DOOR)
    await client.put("/v1/cameras/hall/zones/bench", json=BENCH)
    assert (await client.delete("/v1/cameras/hall")).status_code == 204
    assert_error(await client.get("/v1/cameras/hall/lines"), 404, "camera_not_found")
    await add_camera(client, clip)
    assert (await client.get("/v1/cameras/hall/lines")).json() == {"lines": []}
    assert (await client.get("/v1/cameras/hall/zones")).json() == {"zones": []}


BAD_LINES = {
    "a point outside the frame": {"points": [[0.5, 0], [0.5, 1.2]]},
    "a negative coordinate": {"points": [[-0.1, 0], [0.5, 1]]},
    "one point": {"points": [[0.5, 0]]},
    "three points": {"points": [[0.5, 0], [0.5, 1], [0.2, 0.2]]},
    "the same point twice": {"points": [[0.5, 0.5], [0.5, 0.5]]},
    "not a point": {"points": [[0.5], [0.5, 1]]},
    "an unknown field": {**DOOR, "colour": "red"},
}
BAD_ZONES = {
    "two points": {"points": [[0.1, 0.1], [0.5, 0.5]]},
    "a bow tie": {"points": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]},
    "a repeated corner": {"points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9]]},
    "33 points": {"points": [[0.5 + 0.4 * (i % 2), i / 40] for i in range(33)]},
    "inertia 0": {**BENCH, "inertia": 0},
}


@pytest.mark.anyio
@pytest.mark.parametrize("body", BAD_LINES.values(), ids=BAD_LINES.keys())
async def test_bad_lines_are_refused_and_change_nothing(
    client: httpx.AsyncClient, clip: Path, body: dict
) -> None:
    await add_camera(client, clip)
    await client.put("/v1/cameras/hall/lines/door", json=DOOR)
    assert_error(
        await client.put("/v1/cameras/hall/lines/door", json=body), 422, "validation_error"
    )
    assert (await client.get("/v1/cameras/hall/lines/door")).json()["points"] == DOOR["points"]


@pytest.mark.anyio
@pytest.mark.parametrize("body", BAD_ZONES.values(), ids=BAD_ZONES.keys())
async def test_bad_zones_are_refused_and_change_nothing(
    client: httpx.AsyncClient, clip: Path, body: dict
) -> None:
    await add_camera(client, clip)
    assert_error(await client.put("/v1/cameras/hall/zones/z", json=body), 422, "validation_error")
    assert (await client.get("/v1/cameras/hall/zones")).json() == {"zones": []}


@pytest.mark.anyio
async def test_bad_names_classes_cameras_and_tracking_off(
    client: httpx.AsyncClient, clip: Path
) -> None:
    await add_camera(client, clip)
    assert_error(
        await client.put("/v1/cameras/hall/lines/Door!", json=DOOR), 422, "validation_error"
    )
    assert_error(
        await client.put("/v1/cameras/hall/zones/" + "z" * 41, json=BENCH), 422, "validation_error"
    )
    unknown = {**DOOR, "classes": ["unicorn"]}
    assert_error(
        await client.put("/v1/cameras/hall/lines/door", json=unknown), 422, "invalid_input"
    )
    assert_error(
        await client.put("/v1/cameras/nope/lines/door", json=DOOR), 404, "camera_not_found"
    )
    assert_error(await client.get("/v1/cameras/nope/zones"), 404, "camera_not_found")
    assert (await client.get("/v1/cameras/hall/lines")).json() == {"lines": []}

    await client.put("/v1/cameras/hall/lines/door", json=DOOR)
    off = await client.patch("/v1/cameras/hall", json={"tracking": False})
    assert_error(off, 422, "invalid_input")
    assert (await client.get("/v1/cameras/hall")).json()["tracking"] is True
    await client.delete("/v1/cameras/hall/lines/door")
    off = await client.patch("/v1/cameras/hall", json={"tracking": False})
    assert off.status_code == 200 and off.json()["tracking"] is False
    assert_error(await client.put("/v1/cameras/hall/zones/z", json=BENCH), 422, "invalid_input")


@pytest.mark.anyio
async def test_lines_zones_and_counts_survive_a_restart(settings: Settings, clip: Path) -> None:
    app = create_app(settings)

    async def app_client() -> tuple[LifespanManager, httpx.AsyncClient]:
        manager = LifespanManager(app, startup_timeout=60)
        await manager.__aenter__()
        transport = httpx.ASGITransport(app=manager.app)
        http = httpx.AsyncClient(transport=transport, base_url="http://appliance")
        await wait_ready(http)
        return manager, http

    manager, http = await app_client()
    await add_camera(http, clip)
    await http.put("/v1/cameras/hall/lines/door", json=DOOR)
    await http.put("/v1/cameras/hall/zones/bench", json=BENCH)
    services = app.state.services
    # counts as a running camera leaves them (crossings are tested over a real clip elsewhere)
    services.cameras.scene.line_counts("hall", "door").add([Crossing("door", "in", "person", 3)])
    services.cameras.scene.zone_counts("hall", "bench").add("cat")
    await http.aclose()
    await manager.__aexit__(None, None, None)

    app = create_app(settings)
    manager, http = await app_client()
    try:
        line = (await http.get("/v1/cameras/hall/lines/door")).json()
        assert line["counts"] == {"in": {"person": 1}, "out": {}}
        zone = (await http.get("/v1/cameras/hall/zones/bench")).json()
        assert zone["entered"] == {"cat": 1} and zone["occupancy"] == {}
    finally:
        await http.aclose()
        await manager.__aexit__(None, None, None)
