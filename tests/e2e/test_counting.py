"""Tracks, a counting line and a zone over a real clip with known trajectories, through a real
file camera of `appliance serve`: two people walk across each other (one passes in front) and
a cat crosses the frame, back and forth in an 8 s loop. The motion gate is on (the default):
the results must be those of every frame inferred."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

import cv2
import httpx
import numpy as np
import websockets
from helpers import Server, start_server

from appliance.devtools.trajectories import write_trajectory_clip

DOOR = {"points": [[0.5, 0.0], [0.5, 1.0]], "classes": ["person", "cat"]}
LEFT = {"points": [[0.0, 0.4], [0.36, 0.4], [0.36, 1.0], [0.0, 1.0]]}
WATCH_S = 18.0  # a little over two loops
EDGE_X = (350, 930)  # the people turn round outside these x (centre, px); they cross between


async def watch(server: Server, seconds: float) -> tuple[list[dict], list[dict], list[dict]]:
    """Frames of the camera WebSocket, events of WS /v1/events, and the zone read 4x/s."""
    frames: list[dict] = []
    events: list[dict] = []
    zones: list[dict] = []
    end = time.monotonic() + seconds

    async def frames_in() -> None:
        async with websockets.connect(f"{server.ws_url}/v1/cameras/walk/ws?video=0") as ws:
            while time.monotonic() < end:
                frames.append(json.loads(await ws.recv()))

    async def events_in() -> None:
        async with websockets.connect(f"{server.ws_url}/v1/events") as ws:
            while time.monotonic() < end:
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
                except TimeoutError:
                    return
                if event["type"].startswith(("line.", "zone.")):
                    events.append(event)

    async def zone_polls() -> None:
        async with httpx.AsyncClient(base_url=server.url) as http:
            while time.monotonic() < end:
                zones.append((await http.get("/v1/cameras/walk/zones/left")).json())
                await asyncio.sleep(0.25)

    await asyncio.gather(frames_in(), events_in(), zone_polls())
    return frames, events, zones


def person_paths(frames: list[dict]) -> dict[int, list[tuple[float, float]]]:
    """Per person track id: (capture time, box centre x) of each frame it was in."""
    paths: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for frame in frames:
        for d in frame["detections"]:
            if d["label"] == "person":
                centre = (d["box"]["x1"] + d["box"]["x2"]) / 2
                paths[d["track_id"]].append((frame["captured_at"], centre))
    return paths


def turns(path: list[tuple[float, float]], step_px: float = 40) -> list[float]:
    """Where (centre x) a track's walk changes direction, judged on steps of `step_px`."""
    where, direction, anchor = [], 0, path[0][1]
    for _, x in path[1:]:
        if abs(x - anchor) < step_px:
            continue
        now = 1 if x > anchor else -1
        if direction and now != direction:
            where.append(anchor)
        direction, anchor = now, x
    return where


def test_tracks_lines_and_zones_over_a_real_clip(tmp_path: Path) -> None:
    walk = write_trajectory_clip(tmp_path / "walk.avi")  # beside the service's folder
    camera = {
        "id": "walk",
        "name": "Walk",
        "uri": f"file://{walk.path}",
        "lines": {"door": DOOR},
        "zones": {"left": LEFT},
    }
    root = tmp_path / "serve"
    root.mkdir()
    with start_server(root, [camera]) as server:
        time.sleep(1.0)  # the tracker has seen everyone once
        frames, events, zones = asyncio.run(watch(server, WATCH_S))
        with httpx.Client(base_url=server.url) as http:
            line = http.get("/v1/cameras/walk/lines/door").json()
            zone = http.get("/v1/cameras/walk/zones/left").json()
            metrics = http.get("/metrics").text
            snapshot = http.get("/v1/cameras/walk/snapshot.jpg").content
            gate = http.get("/v1/cameras/walk").json()["status"]["motion"]

    assert gate is not None and gate["frames_inferred"] > 0, "the gate was on"
    # every detection carries its track's id
    found = [d for frame in frames for d in frame["detections"]]
    assert len(frames) > WATCH_S * 4 and found  # 15 fps on a quiet machine
    assert all(isinstance(d["track_id"], int) for d in found)

    # one person, one track: the two people keep their ids through every crossing. A swap
    # shows as a track turning round mid-frame, a lost track as a new id born mid-frame.
    paths = person_paths(frames)
    long_lived = {t: p for t, p in paths.items() if p[-1][0] - p[0][0] > 2.0}
    assert len(long_lived) == 2, {t: (len(p), p[0], p[-1]) for t, p in paths.items()}
    for track_id, path in long_lived.items():
        middle = [x for x in turns(path) if EDGE_X[0] < x < EDGE_X[1]]
        assert not middle, f"person #{track_id} turned round mid-frame at x={middle}"
    born_late = [
        (t, p[0])
        for t, p in paths.items()
        if t not in long_lived
        and p[0][0] > frames[0]["captured_at"] + 1
        and EDGE_X[0] < p[0][1] < EDGE_X[1]
    ]
    assert not born_late, f"tracks born mid-frame (an id switch): {born_late}"

    # each object crosses the line twice a loop, once each way, and counts once a crossing
    crossings = [e for e in events if e["type"] == "line.crossed"]
    loops = WATCH_S / (len(walk.frames) / walk.fps)
    assert 6 * loops - 3 <= len(crossings) <= 6 * loops + 2, crossings
    by_track: dict[int, list[str]] = defaultdict(list)
    for crossing in crossings:
        assert crossing["camera"] == "walk" and crossing["line"] == "door"
        by_track[crossing["track_id"]].append(crossing["direction"])
    for track_id, directions in by_track.items():
        assert all(a != b for a, b in itertools.pairwise(directions)), (track_id, directions)
    assert {c["label"] for c in crossings} == {"person", "cat"}
    for direction in ("in", "out"):
        assert line["counts"][direction]["person"] >= 2 and line["counts"][direction]["cat"] >= 1
    counted = sum(sum(tally.values()) for tally in line["counts"].values())
    assert len(crossings) <= counted <= len(crossings) + 6  # a few before the events socket

    # the zone: people and the cat come and go, and each entry counts once
    occupied = [z["occupancy"].get("person", 0) for z in zones]
    assert max(occupied) >= 1 and min(occupied) == 0
    entered = [e for e in events if e["type"] == "zone.entered"]
    left = [e for e in events if e["type"] == "zone.left"]
    assert {e["label"] for e in entered} == {"person", "cat"} and left
    assert zone["entered"]["person"] >= 2 and zone["entered"]["cat"] >= 1

    assert (
        'appliance_line_crossings_total{camera="walk",direction="in",label="person",line="door"}'
        in metrics
    )
    assert 'appliance_zone_objects{camera="walk",label="person",zone="left"}' in metrics

    # the annotated stream draws the line (amber) down the middle of the frame
    pixels = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    column = pixels[20:120, 638:643].reshape(-1, 3).astype(int)
    amber = (column[:, 0] < 80) & (column[:, 1] > 170) & (column[:, 2] > 200)
    assert amber.mean() > 0.3

    # counts survive a restart
    with start_server(root, None) as again, httpx.Client(base_url=again.url) as http:
        restored = http.get("/v1/cameras/walk/lines/door").json()["counts"]
        for direction, tally in line["counts"].items():
            for label, count in tally.items():
                assert restored[direction][label] >= count
        assert http.get("/v1/cameras/walk/zones/left").json()["entered"]["person"] >= 2
