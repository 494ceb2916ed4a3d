"""Writes the appliance's persistent state as fast as it can, for the SIGKILL test:
`python writer.py DATA_DIR`. Each line on stdout acknowledges a write that returned:
`config N` (config.json now holds generation N), `add NAME VERSION`, `delete NAME`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from appliance.config import CameraConfig, ConfigStore, RuntimeConfig
from appliance.models.repository import ModelRepository

NAMES = ("alpha", "beta", "gamma")


def config(generation: int) -> RuntimeConfig:
    """Generation N: N % 7 cameras, each named after N (so a load tells which one it is)."""
    cameras = [
        CameraConfig(id=f"cam{i}", name=f"gen {generation}", uri="demo://")
        for i in range(generation % 7)
    ]
    return RuntimeConfig(cameras=cameras, default_model=f"gen{generation}")


def main(data: Path) -> None:
    store = ConfigStore(data / "config.json")
    saved = store.load()
    generation = int(saved.default_model.removeprefix("gen")) if saved else 0
    repository = ModelRepository(data / "models")
    scratch = data / "scratch.onnx"
    while True:
        generation += 1
        store.save(config(generation))
        print("config", generation, flush=True)
        name = NAMES[generation % 3]
        if generation % 2:
            scratch.write_bytes(os.urandom(256 * 1024))  # a new version each time
            meta = repository.add(name, scratch, source="writer")
            print("add", name, meta.version, flush=True)
        elif any(m.name == name for m in repository.list()):
            repository.delete(name, active=set())
            print("delete", name, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
