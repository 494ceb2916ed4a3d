"""Lines and zones on the camera page: clicks on the live picture draw them, Save reaches the
scene service (or says why not and changes nothing), the list follows their counts, Reset
and Delete act on them; viewers see the list only; the camera form's Tracking switch."""

from __future__ import annotations

import pytest
from ui_harness import Dashboard, only, sign_in_as_viewer, until

from appliance.config import LineConfig, ZoneConfig
from ui.components.live_view import LiveView
from ui.components.scene_editor import SceneEditor

pytestmark = pytest.mark.anyio

DOOR = LineConfig(points=[(0.52, 0.55), (0.52, 1.0)])
BENCH = ZoneConfig(points=[(0.02, 0.3), (0.35, 0.3), (0.35, 0.85), (0.02, 0.85)])


async def _camera_page(dashboard: Dashboard) -> LiveView:
    await dashboard.user.open("/cameras/demo")
    (live,) = dashboard.user.find(LiveView).elements
    await until(lambda: live.frame is not None)  # a click needs the picture's size
    return live


def _click(dashboard: Dashboard, x: float, y: float) -> None:
    """What a click at picture pixel (x, y) sends from the browser."""
    event = {"mouse_event_type": "click", "image_x": x, "image_y": y}
    dashboard.user.find(LiveView).trigger("mouse", event)


async def test_draw_name_and_save_a_line_then_reset_and_delete_it(dashboard: Dashboard):
    scene, user = dashboard.services.scene, dashboard.user
    live = await _camera_page(dashboard)
    assert live.frame is not None
    width, height = live.frame.result.width, live.frame.result.height
    user.find(marker="draw-line").click()
    await user.should_see("Click the first end of the line", marker="draw-hint")
    _click(dashboard, width * 0.5, height * 0.25)
    _click(dashboard, width * 0.5, height * 0.75)
    _click(dashboard, width * 0.9, height * 0.9)  # a line has two ends: ignored
    assert "<line" in live.content and ">in</text>" in live.content
    user.find(marker="scene-swap").click()  # drawn downwards: `in` is to the right, swapped left
    user.find(marker="scene-name").type("door")
    only(dashboard, "scene-classes").value = ["person", "cat"]
    user.find(marker="scene-save").click()
    await until(lambda: user.notify.contains("Saved line door"))
    saved = scene.line("demo", "door").config
    assert saved.points == [(0.5, 0.75), (0.5, 0.25)] and saved.classes == ["person", "cat"]
    assert live.content == ""  # the stream draws it from now on; the draft is gone
    await user.should_see("in 0 · out 0", marker="line-door-totals", retries=50)
    await user.should_see("person, cat", marker="line-door-classes")

    user.find(marker="line-door-reset").click()
    await until(lambda: user.notify.contains("Counts of door reset"))
    user.find(marker="line-door-delete").click()
    await user.should_see(marker="confirm-delete", retries=50)
    user.find(marker="confirm-delete").click()
    await until(lambda: user.notify.contains("Deleted line door"))
    assert scene.lines("demo") == []
    await user.should_not_see(marker="line-door", retries=50)
    await user.should_see(marker="scene-empty")


async def test_a_zone_of_four_corners_shows_its_occupancy(dashboard: Dashboard):
    user = dashboard.user
    live = await _camera_page(dashboard)
    assert live.frame is not None
    width, height = live.frame.result.width, live.frame.result.height
    user.find(marker="draw-zone").click()
    corners = [(0.02, 0.3), (0.35, 0.3), (0.35, 0.85), (0.02, 0.85)]
    for x, y in corners:
        _click(dashboard, x * width, y * height)
    assert "<polygon" in live.content
    user.find(marker="scene-name").type("bench")
    user.find(marker="scene-save").click()
    await until(lambda: user.notify.contains("Saved zone bench"))
    zone = dashboard.services.scene.zone("demo", "bench")
    assert zone.config.points == [pytest.approx(p) for p in corners]
    assert zone.config.classes is None  # nothing picked: every class
    await user.should_see("entered", marker="zone-bench-totals", retries=50)
    # the astronaut stands in it: the tracker finds a person inside within a few frames
    await user.should_see("now person", marker="zone-bench-detail", retries=300)


async def test_what_cannot_be_saved_says_why_and_changes_nothing(dashboard: Dashboard):
    scene, user = dashboard.services.scene, dashboard.user
    await _camera_page(dashboard)
    (editor,) = user.find(SceneEditor).elements
    user.find(marker="draw-zone").click()
    assert only(dashboard, "scene-save").enabled is False  # nothing drawn yet
    for x, y in [(100, 100), (500, 500), (500, 100), (100, 500)]:  # a bow tie
        _click(dashboard, x, y)
    user.find(marker="scene-name").type("Bench 1")
    user.find(marker="scene-save").click()
    await until(lambda: user.notify.contains("Name: Use a-z, 0-9, - and _"))
    only(dashboard, "scene-name").value = "bench"
    user.find(marker="scene-save").click()
    await until(lambda: user.notify.contains("must not cross itself"))
    assert scene.zones("demo") == []
    assert editor.draft is not None and len(editor.draft.points) == 4  # kept to fix
    user.find(marker="scene-undo").click()
    user.find(marker="scene-cancel").click()
    assert editor.draft is None and editor.form.visible is False


async def test_counts_of_saved_lines_and_zones_are_listed(dashboard: Dashboard):
    scene, user = dashboard.services.scene, dashboard.user
    await scene.put_line("demo", "door", DOOR)
    await scene.put_zone("demo", "bench", BENCH)
    await _camera_page(dashboard)
    await user.should_see("in 0 · out 0", marker="line-door-totals")
    await user.should_see("all classes", marker="line-door-classes")
    await user.should_see("inside", marker="zone-bench-totals")
    await scene.delete_zone("demo", "bench")  # elsewhere (the API): the list follows
    await user.should_not_see(marker="zone-bench", retries=50)


async def test_turning_tracking_off_while_lines_count_says_why(dashboard: Dashboard):
    await dashboard.services.scene.put_line("demo", "door", DOOR)
    user = dashboard.user
    await user.open("/cameras")
    user.find(marker="edit-demo").click()
    await user.should_see(marker="camera-tracking", retries=50)
    assert only(dashboard, "camera-tracking").value is True
    user.find(marker="camera-tracking").click()
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("keep tracking on"))
    assert dashboard.services.cameras.get("demo").config.tracking is True
    await dashboard.services.scene.delete_line("demo", "door")
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("Saved"))
    assert dashboard.services.cameras.get("demo").config.tracking is False


@pytest.mark.parametrize("auth", [True])
async def test_a_viewer_sees_the_counts_but_cannot_draw_or_change(dashboard: Dashboard):
    await dashboard.services.scene.put_line("demo", "door", DOOR)
    user = dashboard.user
    await sign_in_as_viewer(dashboard, "/cameras/demo")
    await user.should_see("in 0 · out 0", marker="line-door-totals", retries=50)
    for marker in ("draw-line", "draw-zone", "line-door-reset", "line-door-delete"):
        assert only(dashboard, marker).enabled is False, marker
    button = only(dashboard, "draw-line")
    button.enable()  # as if the browser sent the click anyway
    user.find(marker="draw-line").click()
    await until(lambda: user.notify.contains("needs the operator scope"))
    _click(dashboard, 100, 100)
    assert dashboard.services.scene.line("demo", "door").config == DOOR
