"""config.json is shared: the cameras and the default model are saved by two services, each
through ConfigStore.update, and neither may undo the other's change."""

from __future__ import annotations

import threading
from pathlib import Path

from appliance.config import CameraConfig, ConfigStore


def test_concurrent_updates_of_different_parts_both_land(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    start = threading.Barrier(2)

    def cameras() -> None:
        start.wait()
        for i in range(40):
            camera = CameraConfig(id=f"cam{i}", name=f"Cam {i}", uri="demo://")
            store.update(lambda saved, c=camera: saved.model_copy(update={"cameras": [c]}))

    def default_model() -> None:
        start.wait()
        for i in range(40):
            store.update(lambda saved, i=i: saved.model_copy(update={"default_model": f"m{i}"}))

    threads = [threading.Thread(target=cameras), threading.Thread(target=default_model)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    saved = ConfigStore(store.path).load()  # as a restart reads it
    assert saved is not None
    assert [c.id for c in saved.cameras] == ["cam39"]
    assert saved.default_model == "m39"


def test_update_on_a_first_start_begins_from_defaults(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "data" / "config.json")
    updated = store.update(lambda saved: saved.model_copy(update={"default_model": "second"}))
    assert updated.cameras == [] and store.load() == updated
