"""Every page renders from the real services, and the live tile follows the camera."""

from __future__ import annotations

import anyio
import pytest
from nicegui import ui
from ui_harness import Dashboard

from ui.components.live_view import LiveView

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "expected", "marker"),
    [
        ("/", "Demo scene", "tile-demo"),
        ("/cameras", "demo://", "camera-row-demo"),
        ("/models", "yolov3-tiny", "model-yolov3-tiny"),
        ("/health", "Memory", "warnings"),
        ("/events", "Events", "event-filters"),
        ("/activity", "Activity", "activity"),
        ("/cameras/demo", "Stage latencies", "stages"),
    ],
)
async def test_page_renders(dashboard: Dashboard, path: str, expected: str, marker: str):
    """Each page shows its own content inside the shared frame (status light, navigation)."""
    await dashboard.user.open(path)
    await dashboard.user.should_see(expected)
    await dashboard.user.should_see(marker=marker)
    await dashboard.user.should_see(marker="status-light")
    await dashboard.user.should_see(marker="nav-models")


async def test_api_keeps_working_beside_the_dashboard(dashboard: Dashboard):
    """/v1, /v2, /metrics and /docs are served by the API, not the dashboard's mount;
    unknown API paths still get the API's error body."""
    assert (await dashboard.http.get("/v1/cameras")).json()["cameras"][0]["id"] == "demo"
    assert (await dashboard.http.get("/v2/health/ready")).status_code == 200
    assert "appliance_http_requests" in (await dashboard.http.get("/metrics")).text
    assert (await dashboard.http.get("/docs")).status_code == 200
    missing = await dashboard.http.get("/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await dashboard.http.get("/v1/detect")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


async def test_live_tile_follows_new_frames(dashboard: Dashboard):
    """The tile's picture URL moves to newer frame ids, each served as a real JPEG, and the
    tile counts as a viewer while it is on screen."""
    await dashboard.user.open("/")
    await dashboard.user.should_see("streaming", marker="state-demo", retries=100)
    live = next(iter(dashboard.user.find(LiveView).elements))
    seen: list[str] = []
    with anyio.fail_after(20):
        while len(set(seen)) < 3:
            if live.source and live.source not in seen:
                seen.append(live.source)
            await anyio.sleep(0.1)
    frame_ids = [int(url.rsplit("frame=", 1)[1]) for url in seen]
    assert frame_ids == sorted(frame_ids)
    image = await dashboard.http.get(seen[-1])
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert dashboard.services.cameras.get("demo").viewers >= 1


async def test_tile_shows_what_the_camera_sees(dashboard: Dashboard):
    """The demo scene holds a person, a cat and a cup; the tile lists the labels found."""
    await dashboard.user.open("/")
    with anyio.fail_after(30):
        while not any(text.startswith(("person", "cat", "cup")) for text in _chips(dashboard)):
            await anyio.sleep(0.2)


def _chips(dashboard: Dashboard) -> list[str]:
    try:
        return [chip.text for chip in dashboard.user.find(ui.chip).elements]
    except AssertionError:  # User.find raises while there is none
        return []


async def test_health_shows_current_cpu(dashboard: Dashboard):
    await dashboard.user.open("/health")
    with anyio.fail_after(10):
        while dashboard.services.telemetry.snapshot() is None:
            await anyio.sleep(0.1)
    await dashboard.user.open("/health")
    await dashboard.user.should_see(marker="fact-cpu")
    fact = next(iter(dashboard.user.find(marker="fact-cpu").elements))
    assert fact.text.endswith("%")


@pytest.mark.parametrize(
    "cameras", [[{"id": "gone", "name": "Gone", "uri": "rtsp://127.0.0.1:9/none"}]]
)
async def test_status_light_turns_amber_with_the_reason(dashboard: Dashboard):
    """A camera that cannot connect makes the light amber and says which one."""
    await dashboard.user.open("/")
    light = next(iter(dashboard.user.find(marker="status-light").elements))
    with anyio.fail_after(30):
        while light.props.get("color") != "warning":
            await anyio.sleep(0.2)
    await dashboard.user.should_see("Gone: reconnecting", retries=50)


async def test_auth_off_is_announced_on_every_page(dashboard: Dashboard):
    for path in ("/", "/models"):
        await dashboard.user.open(path)
        await dashboard.user.should_see(marker="auth-off")
        await dashboard.user.should_see("Authentication is off")


async def test_job_events_say_what_happened(dashboard: Dashboard):
    """A build submitted and cancelled: its lines in the Activity table are not blank."""
    jobs = dashboard.services.jobs
    job = jobs.submit("yolov3-tiny", "onnxruntime")
    jobs.cancel(job.id)
    await dashboard.user.open("/activity")
    (table,) = dashboard.user.find(marker="activity").elements
    with anyio.fail_after(10):
        while not any(row["type"] == "job" for row in table.rows):
            await anyio.sleep(0.2)
    texts = [row["text"] for row in table.rows if row["type"] == "job"]
    assert all(text.startswith("onnxruntime fp32 build of yolov3-tiny: ") for text in texts)
    assert any("cancel" in text for text in texts), texts


async def test_camera_page_counts_viewers_in_words(dashboard: Dashboard):
    await dashboard.user.open("/cameras/demo")
    with anyio.fail_after(20):
        while not (facts := [t for t in _label_texts(dashboard) if "viewer" in t]):
            await anyio.sleep(0.2)
    number, noun = facts[0].rsplit(" · ", 1)[1].split()
    assert noun == ("viewer" if number == "1" else "viewers"), facts[0]


def _label_texts(dashboard: Dashboard) -> list[str]:
    try:
        return [label.text for label in dashboard.user.find(ui.label).elements]
    except AssertionError:
        return []
