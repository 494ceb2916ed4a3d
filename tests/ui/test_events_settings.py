"""The camera form's Events section: what it shows is the camera's `events` settings, and
what is changed there reaches the camera (and its running events stage)."""

from __future__ import annotations

import pytest
from ui_harness import Dashboard, only, until

pytestmark = pytest.mark.anyio


async def test_the_form_edits_the_cameras_event_settings(dashboard: Dashboard):
    cameras, user = dashboard.services.cameras, dashboard.user
    await user.open("/cameras")
    user.find(marker="edit-demo").click()
    await user.should_see(marker="camera-events", retries=50)
    assert only(dashboard, "events-enabled").value is True
    assert "person" in only(dashboard, "events-labels").value
    only(dashboard, "events-labels").set_value(["person", "cat"])
    only(dashboard, "events-annotated").set_value(True)
    only(dashboard, "events-before").set_value(1.5)
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("Saved"), timeout=10)
    events = cameras.get("demo").config.events
    assert events.labels == ["person", "cat"]
    assert events.annotated_clips is True and events.pre_s == 1.5
    assert events.enabled and events.clips  # untouched


async def test_a_bad_value_says_why_and_changes_nothing(dashboard: Dashboard):
    cameras, user = dashboard.services.cameras, dashboard.user
    await user.open("/cameras")
    user.find(marker="edit-demo").click()
    await user.should_see(marker="camera-events", retries=50)
    only(dashboard, "events-before").set_value(60)  # at most 10 s of pre-roll
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("pre_s") or user.notify.contains("less than"))
    assert cameras.get("demo").config.events.pre_s == 3.0
