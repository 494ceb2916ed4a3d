"""Events from a real file camera of `appliance serve`: a person walks across an empty scene
for 4 s of every 12. Each walk is one event: its start and end, its snapshot (the detector
finds the person in it), its clip (pre-roll included, decoded frame by frame), Range."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import websockets
from helpers import Server, start_server

from appliance.devtools.visits import write_visit_clip

PRE_S, POST_S = 2.0, 1.0


async def watch_events(server: Server, seconds: float) -> list[dict]:
    """The event.* messages of WS /v1/events for `seconds`."""
    found: list[dict] = []
    end = time.monotonic() + seconds
    async with websockets.connect(f"{server.ws_url}/v1/events") as ws:
        while (left := end - time.monotonic()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), left))
            except TimeoutError:
                break
            if message["type"].startswith("event."):
                found.append(message)
    return found


def wait_for_clip(http: httpx.Client, event_id: str, timeout_s: float = 20.0) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        event = http.get(f"/v1/events/{event_id}").json()
        if event["has_clip"]:
            return event
        time.sleep(0.3)
    raise AssertionError(f"event {event_id} got no clip: {event}")


def decode(path: Path) -> tuple[list[float], list[np.ndarray], str]:
    """Every frame's time (s) and pixels, and the codec."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times, images = [], []
        for frame in container.decode(stream):
            times.append(float(frame.pts * frame.time_base))
            images.append(frame.to_ndarray(format="bgr24"))
        return times, images, stream.codec_context.name


def people(http: httpx.Client, image: np.ndarray) -> int:
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    found = http.post("/v1/detect", files={"image": ("f.jpg", jpeg.tobytes(), "image/jpeg")})
    return sum(d["label"] == "person" for d in found.json()["detections"])


def test_each_visit_is_one_event_with_snapshot_and_clip(tmp_path: Path) -> None:
    visit = write_visit_clip(tmp_path / "visit.avi")
    camera = {
        "id": "door",
        "name": "Door",
        "uri": f"file://{visit.path}",
        "events": {"pre_s": PRE_S, "post_s": POST_S},
    }
    root = tmp_path / "serve"
    root.mkdir()
    with start_server(root, [camera]) as server:
        messages = asyncio.run(watch_events(server, 2 * visit.loop_s + 2))
        with httpx.Client(base_url=server.url, timeout=30) as http:
            ends = [m["event"] for m in messages if m["type"] == "event.end"]
            assert ends, [m["type"] for m in messages]
            ended = ends[0]
            event = wait_for_clip(http, ended["id"])
            listed = http.get("/v1/events", params={"camera": "door", "label": "person"}).json()
            snapshot = http.get(f"/v1/events/{event['id']}/snapshot.jpg")
            clean = http.get(f"/v1/events/{event['id']}/snapshot.jpg", params={"bbox": 0})
            crop = http.get(f"/v1/events/{event['id']}/snapshot.jpg", params={"crop": 1})
            clip = http.get(f"/v1/events/{event['id']}/clip.mp4")
            part = http.get(f"/v1/events/{event['id']}/clip.mp4", headers={"Range": "bytes=0-99"})
            past = http.get(
                f"/v1/events/{event['id']}/clip.mp4",
                headers={"Range": f"bytes={len(clip.content) + 10}-"},
            )
            missing = http.get("/v1/events/1700000000.000000-aaaaaa")
            bad_filter = http.get("/v1/events", params={"limit": 0})
            bad_cursor = http.get("/v1/events", params={"cursor": "not-a-cursor"})
            (tmp_path / "clip.mp4").write_bytes(clip.content)
            times, images, codec = decode(tmp_path / "clip.mp4")
            in_snapshot = people(http, _jpeg(clean.content))
            at_start, in_middle = people(http, images[0]), people(http, images[len(images) // 2])

    # one event per walk: new, (updates), end, for the same person
    news = [m["event"] for m in messages if m["type"] == "event.new"]
    assert news and all(e["label"] == "person" and e["camera"] == "door" for e in news)
    assert len({e["id"] for e in news}) == len(news)
    assert len(news) <= 3, "one walk made several events"
    duration = ended["end_time"] - ended["start_time"]
    assert visit.visit_s - 1.2 <= duration <= visit.visit_s + 0.5, duration
    assert event["top_score"] >= 0.5 and event["has_snapshot"]
    assert event["id"] in [e["id"] for e in listed["events"]]

    # the snapshot: the frame at the top score, with and without the box, and the crop
    assert snapshot.headers["content-type"] == "image/jpeg"
    assert in_snapshot == 1
    assert len(crop.content) < len(clean.content) and snapshot.content != clean.content

    # the clip: H.264, from the pre-roll (nobody yet) through the walk, to after the end
    assert clip.headers["content-type"] == "video/mp4"
    assert codec == "h264"
    covered = times[-1] - times[0]
    expected = PRE_S + duration + POST_S
    assert expected - 1.5 <= covered <= expected + 1.5, (covered, expected)
    assert at_start == 0 and in_middle == 1
    # the clip holds the frames the camera inferred: 15 fps on a quiet machine, fewer on a
    # busy one, but never a slide show
    assert len(times) >= covered * 4, (len(times), covered)

    # Range for seeking; a range past the end and bad input get the standard error body
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 0-99/")
    assert past.status_code == 416 and past.json()["error"]["code"] == "range_not_satisfiable"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"
    assert bad_filter.status_code == 422 and "error" in bad_filter.json()
    assert bad_cursor.status_code == 422 and "error" in bad_cursor.json()


def _jpeg(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
