"""The scene registry saves line and zone counts a few seconds behind, and never loses the
counts the last run saved."""

from __future__ import annotations

from pathlib import Path

from appliance.analytics.lines import Crossing
from appliance.config import CameraConfig, ConfigStore, LineConfig, RuntimeConfig, SceneCounts
from appliance.services.events import EventBus
from appliance.services.scene_state import SceneRegistry

SAVED = {"hall": SceneCounts(lines={"door": {"in": {"person": 4}, "out": {}}})}


def test_a_flush_before_restore_keeps_what_the_last_run_saved(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    store.save(RuntimeConfig(counts=SAVED))
    registry = SceneRegistry(store, EventBus())
    assert registry.flush() is False  # the models still load: nothing restored yet
    assert store.load().counts == SAVED  # type: ignore[union-attr]


def test_counts_are_saved_when_they_change_and_forgotten_with_their_line(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    store.save(RuntimeConfig(counts=SAVED))
    registry = SceneRegistry(store, EventBus())
    registry.restore(store.load().counts)  # type: ignore[union-attr]
    assert registry.flush() is False  # nothing changed since the restore
    registry.line_counts("hall", "door").add([Crossing("door", "out", "cat", 9)])
    assert registry.flush() is True and registry.flush() is False
    saved = store.load().counts["hall"].lines["door"]  # type: ignore[union-attr]
    assert saved == {"in": {"person": 4}, "out": {"cat": 1}}

    camera = CameraConfig(id="hall", name="Hall", uri="demo://")  # its line was deleted
    registry.retain(camera)
    assert registry.flush() is True
    assert store.load().counts == {}  # type: ignore[union-attr]
    with_line = camera.model_copy(update={"lines": {"door": LineConfig(points=[(0, 0), (1, 1)])}})
    registry.retain(with_line)
    assert registry.line_counts("hall", "door").as_dict() == {"in": {}, "out": {}}
