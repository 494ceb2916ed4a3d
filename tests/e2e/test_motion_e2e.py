"""The motion gate through `appliance serve` on a real file camera (still and moving phases
made from the test photos): the camera WebSocket marks carried frames and sends motion
regions, /v1/cameras and /metrics report the gate's work, PATCH changes it (and refuses a
bad mask with the standard error body), and turning it off gives every frame to the
detector again."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import websockets
from helpers import Server, assert_error, start_server

from appliance.devtools.phases import PhaseClip, write_phase_clip

STILL_S, MOVING_S = 4.0, 3.0


async def messages(server: Server, seconds: float) -> list[dict]:
    got: list[dict] = []
    end = time.monotonic() + seconds
    async with websockets.connect(f"{server.ws_url}/v1/cameras/gate/ws?video=0") as ws:
        while time.monotonic() < end:
            got.append(json.loads(await ws.recv()))
    return got


def check_gated(frames: list[dict], clip: PhaseClip) -> None:
    still = [f for f in frames if not clip.moving(f["frame_id"])]
    moving = [f for f in frames if clip.moving(f["frame_id"])]
    assert still and moving, "both phases were seen"
    carried = [f for f in still if f["carried"]]
    assert len(carried) >= 0.5 * len(still), "still frames are carried, not inferred"
    assert all(f["timings"] == {} for f in carried)
    assert all(f["motion"] == [] for f in carried), "nothing moved in them"
    found = [f for f in moving if not f["carried"] and f["detections"]]
    assert len(found) >= 0.5 * len(moving), "moving frames are inferred"
    assert all(f["motion"] for f in found[1:-1]), "with the regions that moved"
    for x1, y1, x2, y2 in (r for f in found for r in f["motion"]):
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1


def test_the_gate_over_the_api(tmp_path: Path) -> None:
    clip = write_phase_clip(tmp_path / "phases.avi", STILL_S, MOVING_S)
    camera = {"id": "gate", "name": "Gate", "uri": f"file://{clip.path}"}
    root = tmp_path / "serve"
    root.mkdir()
    with start_server(root, [camera]) as server, httpx.Client(base_url=server.url) as http:
        frames = asyncio.run(messages(server, 2 * (STILL_S + MOVING_S)))
        check_gated(frames, clip)

        status = http.get("/v1/cameras/gate").json()
        assert status["motion"]["enabled"] and status["motion"]["idle_fps"] == 0.2
        gate = status["status"]["motion"]
        assert 0 < gate["inferred_share"] < 0.9
        assert gate["motion_events"] >= 1 and gate["frames_carried"] > 0
        metrics = http.get("/metrics").text
        for name in ("frames_inferred_total", "frames_carried_total", "motion_events_total"):
            assert f'appliance_camera_{name}{{camera="gate"}}' in metrics

        # a bowtie is no mask; nothing changes
        bowtie = {"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}
        bad = http.patch("/v1/cameras/gate", json={"motion": {"masks": [bowtie]}})
        assert_error(bad, 422, "validation_error")
        assert http.get("/v1/cameras/gate").json()["motion"]["masks"] == []

        mask = {"points": [[0, 0], [0.5, 0], [0.5, 0.2], [0, 0.2]]}
        changed = http.patch(
            "/v1/cameras/gate", json={"motion": {"tracked_fps": 1, "masks": [mask]}}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["motion"]["masks"] == [mask]
        assert changed.json()["motion"]["tracked_fps"] == 1

        off = http.patch("/v1/cameras/gate", json={"motion": {"enabled": False}})
        assert off.status_code == 200 and off.json()["status"]["motion"] is None
        frames = asyncio.run(messages(server, STILL_S))
        # frames captured before the change may still arrive; from the first after it on,
        # every frame is inferred and none is looked at for motion
        first = next(i for i, f in enumerate(frames) if f["motion"] is None)
        ungated = frames[first:]
        assert len(ungated) >= 10
        assert not any(f["carried"] for f in ungated)
        assert all(f["motion"] is None for f in ungated)
        kept = http.get("/v1/cameras/gate").json()["motion"]
        assert kept["masks"] == [mask] and kept["tracked_fps"] == 1, "PATCH merges"
        saved = json.loads((root / "data" / "config.json").read_text())
        assert saved["cameras"][0]["motion"]["enabled"] is False
