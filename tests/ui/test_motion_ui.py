"""The motion gate in the dashboard: the camera form's Motion section, masks drawn on the
camera page (saved in the camera's `motion` settings, listed, deleted), the Motion switch
that draws what moves over the picture, and the gate's figures."""

from __future__ import annotations

import pytest
from ui_harness import Dashboard, only, sign_in_as_viewer, until

from appliance.config import MaskConfig
from ui.components.live_view import LiveView
from ui.components.motion_facts import GATE_OFF
from ui.components.motion_toggle import OFF_TIP
from ui.components.scene_editor import SceneEditor

pytestmark = pytest.mark.anyio

CAPTION = MaskConfig(points=[(0.0, 0.93), (0.5, 0.93), (0.5, 1.0), (0.0, 1.0)])
CORNER = MaskConfig(points=[(0.8, 0.0), (1.0, 0.0), (1.0, 0.2)])


async def _open_form(dashboard: Dashboard) -> None:
    await dashboard.user.open("/cameras")
    dashboard.user.find(marker="edit-demo").click()
    await dashboard.user.should_see(marker="camera-motion", retries=50)


async def _camera_page(dashboard: Dashboard) -> LiveView:
    await dashboard.user.open("/cameras/demo")
    (live,) = dashboard.user.find(LiveView).elements
    await until(lambda: live.frame is not None)  # a click needs the picture's size
    return live


async def _set_masks(dashboard: Dashboard, masks: list[MaskConfig]) -> None:
    cameras = dashboard.services.cameras
    motion = cameras.get("demo").config.motion.model_dump()
    motion["masks"] = [m.model_dump() for m in masks]
    await cameras.update("demo", {"motion": motion})


async def test_the_form_edits_the_motion_settings_and_keeps_the_masks(dashboard: Dashboard):
    cameras, user = dashboard.services.cameras, dashboard.user
    await _set_masks(dashboard, [CAPTION])
    await _open_form(dashboard)
    assert only(dashboard, "motion-enabled").value is True
    assert only(dashboard, "motion-threshold").value == 25
    assert only(dashboard, "motion-min-area").value == pytest.approx(0.05)  # % of the frame
    only(dashboard, "motion-threshold").set_value(40)
    only(dashboard, "motion-min-area").set_value(0.2)
    only(dashboard, "motion-idle-fps").set_value(0.5)
    only(dashboard, "motion-tracked-fps").set_value(3)
    await _set_masks(dashboard, [CAPTION, CORNER])  # drawn on the camera page meanwhile
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("Saved"))
    motion = cameras.get("demo").config.motion
    assert motion.enabled and motion.threshold == 40
    assert motion.min_area == pytest.approx(0.002)
    assert motion.idle_fps == 0.5 and motion.tracked_fps == 3
    assert motion.masks == [CAPTION, CORNER]


async def test_turning_the_gate_off_in_the_form_and_a_bad_value(dashboard: Dashboard):
    cameras, user = dashboard.services.cameras, dashboard.user
    await _open_form(dashboard)
    only(dashboard, "motion-threshold").set_value(0)  # 1..255
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("motion.threshold: Input should be greater"))
    assert cameras.get("demo").config.motion.threshold == 25
    only(dashboard, "motion-threshold").set_value(25)
    only(dashboard, "motion-enabled").set_value(False)
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("Saved"))
    assert cameras.get("demo").config.motion.enabled is False
    await until(lambda: cameras.get("demo").gate is None)


async def test_the_camera_page_shows_the_gates_figures(dashboard: Dashboard):
    user = dashboard.user
    await _camera_page(dashboard)
    # "no frames yet" until the first frames pass the gate
    await user.should_see(
        "of frames inferred (last minute)", marker="motion-telemetry", retries=300
    )
    await user.should_see("motion events/min", marker="motion-telemetry")
    await user.should_see("now", marker="motion-now", retries=50)  # moving or still
    assert only(dashboard, "motion-toggle").enabled is True


@pytest.mark.parametrize(
    "cameras",
    [[{"id": "demo", "name": "Demo scene", "uri": "demo://", "motion": {"enabled": False}}]],
)
async def test_with_the_gate_off_the_switch_is_disabled_and_says_why(dashboard: Dashboard):
    user = dashboard.user
    await _camera_page(dashboard)
    await user.should_see(GATE_OFF, marker="motion-telemetry", retries=50)
    assert only(dashboard, "motion-toggle").enabled is False
    await user.should_see(OFF_TIP)
    await user.should_not_see(marker="motion-now")  # moving or still: no gate, no answer


async def test_the_switch_draws_what_moves_and_the_masks(dashboard: Dashboard):
    await _set_masks(dashboard, [CAPTION])
    live = await _camera_page(dashboard)
    assert "data-mask" not in live.content  # masks show only when asked for
    only(dashboard, "motion-toggle").set_value(True)
    await until(lambda: 'data-mask="1"' in live.content)
    # the demo's photos glide 10 s of every 30: regions of motion over the picture
    await until(lambda: "data-motion" in live.content, timeout=40)
    assert all(0 <= x1 < x2 <= 1 for x1, _, x2, _ in live.frame.motion or ())
    only(dashboard, "motion-toggle").set_value(False)
    assert "data-motion" not in live.content and "data-mask" not in live.content


async def test_draw_save_list_and_delete_a_mask(dashboard: Dashboard):
    cameras, user = dashboard.services.cameras, dashboard.user
    motion = cameras.get("demo").config.motion.model_dump()
    await cameras.update("demo", {"motion": {**motion, "threshold": 30}})
    live = await _camera_page(dashboard)
    assert live.frame is not None
    width, height = live.frame.result.width, live.frame.result.height
    await user.should_see(marker="masks-empty")
    user.find(marker="draw-mask").click()
    await user.should_see("Click the mask's corners in order", marker="draw-hint")
    (editor,) = user.find(SceneEditor).elements
    assert editor.form.visible is False  # a mask has no name nor classes
    assert 'data-mask="1"' not in live.content  # none saved yet
    for x, y in CORNER.points:
        event = {"mouse_event_type": "click", "image_x": x * width, "image_y": y * height}
        user.find(LiveView).trigger("mouse", event)
    assert "<polygon" in live.content
    user.find(marker="scene-save").click()
    await until(lambda: user.notify.contains("Saved the mask"))
    saved = cameras.get("demo").config.motion
    assert saved.masks == [CORNER] and saved.threshold == 30  # the rest kept
    await user.should_see("mask 1", marker="mask-1", retries=50)

    user.find(marker="draw-mask").click()
    await until(lambda: 'data-mask="1"' in live.content)  # the saved ones, while drawing
    user.find(marker="scene-cancel").click()
    await until(lambda: "data-mask" not in live.content)

    user.find(marker="mask-1-delete").click()
    await until(lambda: user.notify.contains("Deleted mask 1"))
    assert cameras.get("demo").config.motion.masks == []
    await user.should_see(marker="masks-empty", retries=50)


@pytest.mark.parametrize("auth", [True])
async def test_a_viewer_sees_the_masks_but_cannot_draw_or_delete_them(dashboard: Dashboard):
    await _set_masks(dashboard, [CAPTION])
    user = dashboard.user
    await sign_in_as_viewer(dashboard, "/cameras/demo")
    await user.should_see("mask 1", marker="mask-1", retries=50)
    assert only(dashboard, "draw-mask").enabled is False
    delete = only(dashboard, "mask-1-delete")
    assert delete.enabled is False
    delete.enable()  # as if the browser sent the click anyway
    user.find(marker="mask-1-delete").click()
    await until(lambda: user.notify.contains("needs the operator scope"))
    assert dashboard.services.cameras.get("demo").config.motion.masks == [CAPTION]
    assert only(dashboard, "motion-toggle").enabled is True  # looking is for everyone
