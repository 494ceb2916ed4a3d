"""POST /v1/detect and /v1/detect/batch happy paths, on a real app with the demo model."""

from __future__ import annotations

import itertools

import cv2
import httpx
import numpy as np
import pytest
from helpers import Rects, Scene, assert_finds_scene

from appliance.devtools.scene import ASSETS as PHOTOS
from appliance.settings import Settings
from appliance.sources.demo_scene import load_asset

pytestmark = pytest.mark.anyio

JPEG = {"content-type": "image/jpeg"}
COCO_IDS = {"person": 0, "cat": 15, "cup": 41}


def mirrored(where: Rects, width: int) -> Rects:
    return {label: (width - x2, y1, width - x1, y2) for label, (x1, y1, x2, y2) in where.items()}


def iou(a: dict, b: dict) -> float:
    w = max(0.0, min(a["x2"], b["x2"]) - max(a["x1"], b["x1"]))
    h = max(0.0, min(a["y2"], b["y2"]) - max(a["y1"], b["y1"]))
    inter = w * h
    area = (a["x2"] - a["x1"]) * (a["y2"] - a["y1"]) + (b["x2"] - b["x1"]) * (b["y2"] - b["y1"])
    return inter / (area - inter)


def same_class_overlaps(detections: list[dict]) -> list[float]:
    return [
        iou(a["box"], b["box"])
        for a, b in itertools.combinations(detections, 2)
        if a["class_id"] == b["class_id"]
    ]


def encode(pixels: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, pixels)
    assert ok
    return buffer.tobytes()


async def detect(client: httpx.AsyncClient, data: bytes, query: str = "", **kw) -> dict:
    response = await client.post(f"/v1/detect{query}", content=data, headers=JPEG, **kw)
    assert response.status_code == 200, response.text
    return response.json()


async def test_raw_jpeg_finds_each_photo_in_its_place(client: httpx.AsyncClient, scene: Scene):
    """A raw image/jpeg body yields a person, a cat and a cup, each inside its own photo."""
    body = await detect(client, scene.jpeg())
    assert_finds_scene(body, scene.where)


async def test_one_box_per_photo(client: httpx.AsyncClient, scene: Scene):
    """The demo model found the person and the cat twice and the cup three times (a box
    inside a box of the same class); merged, one object is one box."""
    labels = [d["label"] for d in (await detect(client, scene.jpeg()))["detections"]]
    assert sorted(labels) == ["cat", "cup", "person"]


async def test_response_shape_model_and_timings(client: httpx.AsyncClient, scene: Scene):
    """The body has the documented shape: the loaded model's name and version, the image size,
    COCO class ids, boxes inside the image, confidences sorted, and timings that add up."""
    body = await detect(client, scene.jpeg())
    assert set(body) == {"model", "image", "detections", "timings"}
    ready = (await client.get("/readyz")).json()["models"][0]
    assert body["model"] == {"name": "yolov3-tiny", "version": ready["version"]}
    assert body["image"] == {"width": 1280, "height": 720}
    for d in body["detections"]:
        assert set(d) == {"label", "class_id", "confidence", "box"}
        if d["label"] in COCO_IDS:
            assert d["class_id"] == COCO_IDS[d["label"]]
        assert 0.25 <= d["confidence"] <= 1
        box = d["box"]
        assert 0 <= box["x1"] < box["x2"] <= 1280
        assert 0 <= box["y1"] < box["y2"] <= 720
    confidences = [d["confidence"] for d in body["detections"]]
    assert confidences == sorted(confidences, reverse=True)
    t = body["timings"]
    assert set(t) == {"decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms", "total_ms"}
    assert all(v >= 0 for v in t.values())
    assert t["infer_ms"] > 0
    stages = t["decode_ms"] + t["preprocess_ms"] + t["infer_ms"] + t["postprocess_ms"]
    assert t["total_ms"] == pytest.approx(stages, abs=0.01)


@pytest.mark.parametrize(("ext", "media"), [(".png", "image/png"), (".webp", "image/webp")])
async def test_png_and_webp_bodies(client: httpx.AsyncClient, scene: Scene, ext, media):
    """PNG and WebP bodies are accepted and give the same findings as JPEG."""
    response = await client.post(
        "/v1/detect", content=encode(scene.pixels, ext), headers={"content-type": media}
    )
    assert response.status_code == 200, response.text
    assert response.json()["image"] == {"width": 1280, "height": 720}
    assert_finds_scene(response.json(), scene.where)


async def test_multipart_upload_matches_raw_body(client: httpx.AsyncClient, scene: Scene):
    """A multipart `image` part gives exactly the detections of the same bytes sent raw."""
    data = scene.jpeg()
    raw = await detect(client, data)
    response = await client.post("/v1/detect", files={"image": ("scene.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.json()["detections"] == raw["detections"]
    assert_finds_scene(response.json(), scene.where)


async def test_generic_part_type_is_sniffed(client: httpx.AsyncClient, scene: Scene):
    """A part labelled application/octet-stream is accepted: the bytes decide the format."""
    files = {"image": ("blob", scene.png(), "application/octet-stream")}
    response = await client.post("/v1/detect", files=files)
    assert response.status_code == 200, response.text
    assert_finds_scene(response.json(), scene.where)


async def test_conf_keeps_only_confident_detections(client: httpx.AsyncClient, scene: Scene):
    """conf=0.7 returns exactly the default result's detections at or above 0.7 (one box
    per photo: the person and the cat, not the cup)."""
    data = scene.jpeg()
    everything = (await detect(client, data))["detections"]
    confident = (await detect(client, data, "?conf=0.7"))["detections"]
    assert confident == [d for d in everything if d["confidence"] >= 0.7]
    assert 0 < len(confident) < len(everything)


async def test_classes_by_label_and_by_id(client: httpx.AsyncClient, scene: Scene):
    """classes=cat,41 (a label and a class id) keeps exactly the cat and cup detections."""
    data = scene.jpeg()
    everything = (await detect(client, data))["detections"]
    picked = await detect(client, data, "?classes=cat,41")
    assert {d["label"] for d in picked["detections"]} == {"cat", "cup"}
    assert picked["detections"] == [d for d in everything if d["class_id"] in (15, 41)]
    assert_finds_scene(picked, {k: scene.where[k] for k in ("cat", "cup")})


async def test_max_det_keeps_the_most_confident(client: httpx.AsyncClient, scene: Scene):
    """max_det=2 returns the two most confident detections of the full result."""
    data = scene.jpeg()
    everything = (await detect(client, data))["detections"]
    top = (await detect(client, data, "?max_det=2"))["detections"]
    assert len(everything) > 2
    assert top == sorted(everything, key=lambda d: -d["confidence"])[:2]


def two_astronauts(scene: Scene, shift: int = 240) -> bytes:
    """The scene with a second astronaut `shift` pixels right of the first, over its edge:
    people whose boxes overlap without one lying inside the other (nested boxes of a class
    merge into one: tests/unit/test_nested.py)."""
    x1, y1, x2, y2 = scene.where["person"]
    photo = cv2.resize(load_asset(PHOTOS["person"]), (x2 - x1, y2 - y1))
    pixels = scene.pixels.copy()
    pixels[y1:y2, x1 + shift : x2 + shift] = photo
    return encode(pixels, ".jpg")


async def test_iou_controls_suppression(client: httpx.AsyncClient, scene: Scene):
    """A high iou keeps overlapping boxes of one class that the default suppresses; a low
    one leaves none overlapping by more than it."""
    data = two_astronauts(scene)
    default = (await detect(client, data))["detections"]
    strict = (await detect(client, data, "?iou=0.1"))["detections"]
    loose = (await detect(client, data, "?iou=0.9"))["detections"]
    assert any(o > 0.45 for o in same_class_overlaps(loose)), "no overlaps for iou to keep"
    assert all(o <= 0.45 + 1e-3 for o in same_class_overlaps(default))
    assert all(o <= 0.1 + 1e-3 for o in same_class_overlaps(strict))
    assert len(strict) <= len(default) < len(loose)
    assert {d["label"] for d in strict} >= set(scene.where)
    assert sum(d["label"] == "person" for d in strict) == 2


async def test_explicit_model_name(client: httpx.AsyncClient, scene: Scene):
    """model=yolov3-tiny names the default model and gives the same answer as omitting it."""
    data = scene.jpeg()
    named = await detect(client, data, "?model=yolov3-tiny")
    assert named["model"]["name"] == "yolov3-tiny"
    assert named["detections"] == (await detect(client, data))["detections"]


async def test_format_jpeg_returns_annotated_image(client: httpx.AsyncClient, scene: Scene):
    """format=jpeg returns a JPEG of the input's size with X-Detections and boxes drawn on it."""
    data = scene.jpeg()
    detections = (await detect(client, data))["detections"]
    response = await client.post("/v1/detect?format=jpeg", content=data, headers=JPEG)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["x-detections"]) == len(detections)
    drawn = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert drawn is not None and drawn.shape == scene.pixels.shape

    # No giraffe in the scene: nothing drawn, so that picture stays close to the input.
    bare = await client.post("/v1/detect?format=jpeg&classes=giraffe", content=data, headers=JPEG)
    assert bare.status_code == 200
    assert bare.headers["x-detections"] == "0"
    plain = cv2.imdecode(np.frombuffer(bare.content, np.uint8), cv2.IMREAD_COLOR)

    box = detections[0]["box"]
    x, y1, y2 = int(box["x1"]), int(box["y1"]) + 40, int(box["y2"]) - 10
    original = scene.pixels[y1:y2, x : x + 2].astype(int)
    edge_change = np.abs(drawn[y1:y2, x : x + 2].astype(int) - original).mean()
    plain_change = np.abs(plain[y1:y2, x : x + 2].astype(int) - original).mean()
    assert plain_change < 8, plain_change
    assert edge_change > 30, edge_change


async def test_tiny_image(client: httpx.AsyncClient):
    """A 1x1 PNG is a valid image: 200 with its size and no detections."""
    response = await client.post(
        "/v1/detect",
        content=encode(np.zeros((1, 1, 3), np.uint8), ".png"),
        headers={"content-type": "image/png"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["image"] == {"width": 1, "height": 1}
    assert response.json()["detections"] == []


async def test_batch_results_in_order(client: httpx.AsyncClient, scene: Scene):
    """Each batch result answers the image at the same position: the scene, its mirror image
    (objects on the other side) and a half-size copy."""
    flipped = np.ascontiguousarray(scene.pixels[:, ::-1])
    half = cv2.resize(scene.pixels, (640, 360), interpolation=cv2.INTER_AREA)
    files = [
        ("images", ("scene.jpg", scene.jpeg(), "image/jpeg")),
        ("images", ("flipped.png", encode(flipped, ".png"), "image/png")),
        ("images", ("half.jpg", encode(half, ".jpg"), "image/jpeg")),
    ]
    response = await client.post("/v1/detect/batch", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"results"}
    first, second, third = body["results"]
    assert [r["image"] for r in body["results"]] == [
        {"width": 1280, "height": 720},
        {"width": 1280, "height": 720},
        {"width": 640, "height": 360},
    ]
    assert_finds_scene(first, scene.where)
    assert_finds_scene(second, mirrored(scene.where, 1280))
    halved = {
        k: (x1 // 2, y1 // 2, x2 // 2, y2 // 2) for k, (x1, y1, x2, y2) in scene.where.items()
    }
    assert_finds_scene(third, halved)
    for result in body["results"]:
        assert result["model"]["name"] == "yolov3-tiny"


async def test_batch_applies_query_to_every_image(client: httpx.AsyncClient, scene: Scene):
    """Query parameters apply to each image of a batch: classes=cat leaves only cats."""
    files = [("images", (f"{i}.jpg", scene.jpeg(quality=80 + i), "image/jpeg")) for i in range(2)]
    response = await client.post("/v1/detect/batch?classes=cat&conf=0.3", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 2
    for result in results:
        assert {d["label"] for d in result["detections"]} == {"cat"}
        assert all(d["confidence"] >= 0.3 for d in result["detections"])


async def test_batch_of_max_batch_images(
    client: httpx.AsyncClient, scene: Scene, settings: Settings
):
    """A batch of exactly max_batch_images images is accepted, one result per image."""
    small = encode(cv2.resize(scene.pixels, (320, 180), interpolation=cv2.INTER_AREA), ".jpg")
    count = settings.max_batch_images
    files = [("images", (f"{i}.jpg", small, "image/jpeg")) for i in range(count)]
    response = await client.post("/v1/detect/batch", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == count
    assert all(r["image"] == {"width": 320, "height": 180} for r in results)
    assert all(r["detections"] == results[0]["detections"] for r in results)
