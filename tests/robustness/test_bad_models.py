"""A model that returns garbage or output no decoder can read, but only on some frames (so it
passed its validation): the cameras using it show the reason, everything else keeps
working, and activating a good model recovers them in one call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import cv2
import httpx
import numpy as np
import pytest
from bad_models import nan_model, reshaping_model
from helpers import Scene, write_clip

pytestmark = pytest.mark.anyio
JPEG = {"content-type": "image/jpeg"}


def white_clip(path: Path, frames: int = 30) -> Path:
    """A clip of white frames: bright enough to set the bad models off."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (640, 360))
    for _ in range(frames):
        writer.write(np.full((360, 640, 3), 255, np.uint8))
    writer.release()
    return path


async def camera(http: httpx.AsyncClient, camera_id: str) -> dict:
    response = await http.get(f"/v1/cameras/{camera_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def until(http: httpx.AsyncClient, camera_id: str, check: Callable[[dict], bool]) -> dict:
    with anyio.fail_after(30):
        while not check(view := await camera(http, camera_id)):
            await anyio.sleep(0.1)
    return view


@pytest.mark.parametrize(
    ("build", "reason"),
    [(nan_model, "non-finite values"), (reshaping_model, "does not decode as yolov5")],
    ids=["nan", "wrong-shape"],
)
async def test_bad_model_fails_its_cameras_only_and_one_activation_recovers(
    client: httpx.AsyncClient, tmp_path: Path, scene: Scene, build, reason: str
) -> None:
    bright = white_clip(tmp_path / "white.avi")
    normal = write_clip(tmp_path / "scene.avi", frames=45)
    for camera_id, clip in (("bright", bright), ("scene", normal)):
        body = {"id": camera_id, "name": camera_id, "uri": f"file://{clip}", "fps_limit": 10}
        assert (await client.post("/v1/cameras", json=body)).status_code == 201

    with build(tmp_path / "bad.onnx").open("rb") as handle:
        files = {"file": ("bad.onnx", handle.read())}
    uploaded = await client.post("/v1/models", files=files)
    assert uploaded.status_code == 201, uploaded.text  # it passes validation
    swap = await client.post("/v1/models/bad/activate", json={"cameras": ["bright"]})
    assert swap.status_code == 200, swap.text  # …and its warm-up

    failed = await until(client, "bright", lambda v: v["status"]["inference_error"] is not None)
    assert reason in failed["status"]["inference_error"]
    assert failed["model"] == "bad"

    # The rest of the service is untouched: the other camera keeps producing, detect works.
    before = (await camera(client, "scene"))["status"]
    healthy = await until(
        client, "scene", lambda v: v["status"]["fps_out"] > 0 and v["status"]["frames"] > 0
    )
    assert healthy["status"]["inference_error"] is None and before["inference_error"] is None
    detected = await client.post("/v1/detect", content=scene.jpeg(), headers=JPEG)
    assert detected.status_code == 200, detected.text
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    still = await camera(client, "bright")
    assert reason in still["status"]["inference_error"]  # it stays failed while it fails

    # One activation of a good model recovers it.
    good = await client.post("/v1/models/yolov3-tiny/activate", json={"cameras": ["bright"]})
    assert good.status_code == 200, good.text
    recovered = await until(client, "bright", lambda v: v["status"]["inference_error"] is None)
    assert recovered["model"] == "yolov3-tiny"
    frames = recovered["status"]["frames"]
    await until(client, "bright", lambda v: v["status"]["frames"] > frames)
    assert (await camera(client, "bright"))["status"]["inference_error"] is None
