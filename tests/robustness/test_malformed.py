"""Malformed input across the API, beyond tests/api/test_errors.py (which covers wrong media
types, undecodable and truncated images, pixel bombs and upload limits): corrupt JPEGs,
absurd dimensions, bad JSON bodies, unknown fields, camera URIs that are malformed or point
outside the media folders, path traversal in names, garbage on every WebSocket. Never a 5xx,
always the standard error body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from helpers import Scene, assert_error, write_clip
from robustness_helpers import derive, serve, ws_client

from appliance.settings import Settings

pytestmark = pytest.mark.anyio
JPEG = {"content-type": "image/jpeg"}


# --- images -------------------------------------------------------------------------------


def corrupted(data: bytes, seed: int) -> bytes:
    """The JPEG with 64 random bytes overwritten after its headers."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for position in rng.integers(600, len(data) - 2, 64):
        out[position] = int(rng.integers(0, 256))
    return bytes(out)


def sof_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0) claiming other dimensions."""
    at = data.index(b"\xff\xc0")
    out = bytearray(data)
    out[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(out)


@pytest.mark.parametrize("seed", range(6))
async def test_corrupt_jpeg_is_served_or_refused_never_a_crash(client, scene: Scene, seed):
    """Garbage in the entropy-coded data: decoders may recover (200) or give up (422)."""
    response = await client.post("/v1/detect", content=corrupted(scene.jpeg(), seed), headers=JPEG)
    if response.status_code != 200:
        assert_error(response, 422, "invalid_image")


@pytest.mark.parametrize(
    ("width", "height", "statuses"),
    [(65535, 65535, {413}), (0, 720, {422}), (1280, 0, {422}), (65000, 1, {200, 422})],
)
async def test_jpeg_header_with_absurd_dimensions(client, scene, width, height, statuses):
    """A header claiming 4 gigapixels is refused from the header (413); a zero size is not
    an image (422); a size that does not match the data is decoded as best it can or
    refused, never a crash."""
    response = await client.post(
        "/v1/detect", content=sof_dimensions(scene.jpeg(), width, height), headers=JPEG
    )
    assert response.status_code in statuses, response.text
    if response.status_code == 413:
        assert_error(response, 413, "image_too_large")
    elif response.status_code == 422:
        assert_error(response, 422, "invalid_image")
    else:
        assert response.json()["image"] == {"width": width, "height": height}


@pytest.mark.parametrize("shape", [(1, 1), (1, 20_000), (20_000, 1), (3, 7)])
async def test_extreme_but_real_images_are_served(client: httpx.AsyncClient, shape):
    """Tiny images and 1-pixel strips are real images: served, boxes inside the image."""
    png = cv2.imencode(".png", np.full((*shape, 3), 128, np.uint8))[1].tobytes()
    response = await client.post("/v1/detect", content=png, headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["image"] == {"width": shape[1], "height": shape[0]}


# --- JSON bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"name": "\xff\xfe", "uri": "demo://"}', {"content-type": "application/json"}),
        (b"\xc3\x28\xa0\xa1", {"content-type": "application/json"}),
        (b'{"name": "x", "uri": ', {"content-type": "application/json"}),
        (b"[]", {"content-type": "application/json"}),
        (b'"just a string"', {"content-type": "application/json"}),
        (b'{"name": "x", "uri": "demo://"}', {"content-type": "text/plain"}),
        (b"", {"content-type": "application/json"}),
    ],
    ids=["bad-utf8-string", "bad-utf8", "truncated", "array", "string", "text-plain", "empty"],
)
async def test_unusable_json_body_is_422(client: httpx.AsyncClient, body: bytes, headers):
    response = await client.post("/v1/cameras", content=body, headers=headers)
    assert_error(response, 422, "validation_error")
    assert (await client.get("/v1/cameras")).json()["cameras"] == []


async def test_oversized_json_is_413_before_it_is_read(settings: Settings) -> None:
    """Over max_json_kb: refused from Content-Length, and mid-stream when chunked."""
    huge = json.dumps({"name": "x", "uri": "demo://", "classes": ["a" * 100] * 200}).encode()
    async with serve(derive(settings, max_json_kb=4)) as (_, http):
        response = await http.post(
            "/v1/cameras", content=huge, headers={"content-type": "application/json"}
        )
        assert_error(response, 413, "payload_too_large")

        async def chunks():
            for start in range(0, len(huge), 1024):
                yield huge[start : start + 1024]

        for method, path in (("POST", "/v1/cameras"), ("PATCH", "/v1/cameras/x")):
            response = await http.request(
                method, path, content=chunks(), headers={"content-type": "application/json"}
            )
            assert "content-length" not in response.request.headers
            assert_error(response, 413, "payload_too_large")
        small = {"name": "x", "uri": "demo://", "enabled": False}
        assert (await http.post("/v1/cameras", json=small)).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/cameras", {"name": "x", "uri": "demo://", "colour": "red"}),
        ("PATCH", "/v1/cameras/x", {"name": "y", "colour": "red"}),
        ("POST", "/v1/models/yolov3-tiny/activate", {"cameras": None, "force": True}),
        ("POST", "/v1/jobs", {"model": "yolov3-tiny", "kind": "onnxruntime", "x": 1}),
    ],
)
async def test_unknown_fields_are_rejected(client, method: str, path: str, body: dict):
    existing = {"id": "x", "name": "x", "uri": "demo://", "enabled": False}
    assert (await client.post("/v1/cameras", json=existing)).status_code == 201
    response = await client.request(method, path, json=body)
    details = assert_error(response, 422, "validation_error")["error"]["details"]
    assert "extra_forbidden" in {d["type"] for d in details}


async def test_every_request_body_forbids_unknown_fields(client: httpx.AsyncClient) -> None:
    """In the OpenAPI schema, every JSON request body of /v1 is a closed object (the /v2
    protocol's bodies tolerate extensions, as Triton does)."""
    spec = (await client.get("/openapi.json")).json()

    def closed(schema: dict[str, Any], seen: tuple[str, ...] = ()) -> list[str]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return []
            return closed(spec["components"]["schemas"][name], (*seen, name))
        problems = []
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            problems.append(schema.get("title", "an object"))
        for part in schema.get("patternProperties", {}).values():  # maps: lines by name
            problems += closed(part, seen)
        for key in ("anyOf", "oneOf", "allOf"):
            for part in schema.get(key, []):
                problems += closed(part, seen)
        for part in schema.get("properties", {}).values():
            problems += closed(part, seen)
        return problems

    bodies = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if path.startswith("/v1/") and "application/json" in content:
                bodies += 1
                open_ = closed(content["application/json"]["schema"])
                assert not open_, f"{method.upper()} {path}: {open_} accept unknown fields"
    assert bodies >= 4


# --- camera URIs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "   ",
        "demo",
        "http://example.com/video",
        "javascript:alert(1)",
        "usb://abc",
        "usb://0\x00",
        "usb://-1",
        "rtsp://",
        "rtsp://host:notaport/x",
        "rtsp://ho st/x",
        "v4l2:///etc/passwd",
        "file://relative/clip.avi",
        "file://remote-host/clip.avi",
        "gst://",
        "demo://?fps=1e9",
        "demo://?width=99999",
        "demo://?evil=1",
        "x" * 3000,
    ],
)
async def test_malformed_camera_uri_is_422(client: httpx.AsyncClient, uri: str) -> None:
    response = await client.post("/v1/cameras", json={"name": "Cam", "uri": uri})
    assert response.status_code == 422, response.text
    code = response.json()["error"]["code"]
    assert code in {"invalid_source", "validation_error"}
    assert (await client.get("/v1/cameras")).json()["cameras"] == []


@pytest.fixture
def media(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed media folder with a clip, and a clip in a folder beside it (not allowed)."""
    allowed, outside = tmp_path / "media", tmp_path / "elsewhere"
    allowed.mkdir()
    outside.mkdir()
    write_clip(allowed / "ok.avi", frames=5)
    write_clip(outside / "secret.avi", frames=5)
    (allowed / "link.avi").symlink_to(outside / "secret.avi")
    return allowed, outside


async def test_file_uris_outside_the_media_folders_are_refused(
    settings: Settings, media: tuple[Path, Path]
) -> None:
    """Only files under APPLIANCE_MEDIA_DIRS may become cameras: `..`, %2e%2e, links and
    absolute paths elsewhere are refused (422 invalid_source), on create and on change."""
    allowed, outside = media
    async with serve(derive(settings, media_dirs=[allowed])) as (_, http):
        refused = [
            f"file://{outside}/secret.avi",
            f"file://{allowed}/../elsewhere/secret.avi",
            f"file://{allowed}/%2e%2e/elsewhere/secret.avi",
            f"file://{allowed}/link.avi",
            "file:///etc/hostname",
        ]
        for uri in refused:
            response = await http.post("/v1/cameras", json={"name": "Cam", "uri": uri})
            body = assert_error(response, 422, "invalid_source")
            assert "outside the folders" in body["error"]["message"], uri
        created = await http.post(
            "/v1/cameras",
            json={"id": "ok", "name": "Ok", "uri": f"file://{allowed}/ok.avi", "enabled": False},
        )
        assert created.status_code == 201, created.text
        moved = await http.patch("/v1/cameras/ok", json={"uri": refused[0]})
        assert_error(moved, 422, "invalid_source")
        camera = (await http.get("/v1/cameras/ok")).json()
        assert camera["uri"] == f"file://{allowed}/ok.avi"


def test_default_media_folders_are_the_data_dirs_and_videos(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.media_roots == [tmp_path / "media", Path.home() / "Videos"]
    assert Settings(data_dir=tmp_path, media_dirs=[]).media_roots == []


# --- names in paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",  # a bare ".." never arrives: HTTP clients resolve dot segments before sending
    ["%2e%2e", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fconfig.json", "a%2fb", ".x", "..."],
)
async def test_model_and_camera_names_cannot_traverse(client: httpx.AsyncClient, name: str):
    """Traversal in a name finds nothing (404, or 422 for a name that cannot exist) and
    changes nothing; the files beside the repository stay where they are."""
    calls = [
        ("GET", f"/v1/models/{name}"),
        ("DELETE", f"/v1/models/{name}"),
        ("POST", f"/v1/models/{name}/activate"),
        ("GET", f"/v1/cameras/{name}"),
        ("DELETE", f"/v1/cameras/{name}"),
        ("GET", f"/v2/models/{name}/config"),
    ]
    for method, path in calls:
        response = await client.request(method, path)
        assert response.status_code in (404, 405, 422), (method, path, response.text)
    assert (await client.get("/v1/models/yolov3-tiny")).status_code == 200


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x" * 65, "-lead", "a\x00b"])
async def test_upload_with_a_traversing_name_is_refused(
    client: httpx.AsyncClient, settings: Settings, name: str
) -> None:
    from appliance.models.demo import demo_model_path

    before = sorted(p.relative_to(settings.data_dir) for p in settings.data_dir.rglob("*"))
    files = {"file": ("../../evil.onnx", demo_model_path().read_bytes())}
    response = await client.post("/v1/models", files=files, data={"name": name})
    assert_error(response, 422, "invalid_input")
    after = sorted(p.relative_to(settings.data_dir) for p in settings.data_dir.rglob("*"))
    new = [p for p in after if p not in before and not {"cache", ".uploads"} & set(p.parts)]
    assert new == []
    assert list((settings.data_dir / "models" / ".uploads").iterdir()) == []  # staging gone
    assert not (settings.data_dir.parent / "evil.onnx").exists()


# --- WebSockets ---------------------------------------------------------------------------

GARBAGE: list[bytes | str] = [
    b"\x00" * 10,
    bytes(range(256)) * 8,
    b"\xff\xd8\xff\xe0" + b"\x00" * 100,  # a JPEG's start, then nothing
    "not a frame",
    '{"type": "subscribe"}',
    "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "x" * 10_000,
]


def _send(ws, message: bytes | str) -> None:
    if isinstance(message, bytes):
        ws.send_bytes(message)
    else:
        ws.send_text(message)


def test_garbage_on_detect_ws_gets_errors_and_the_socket_keeps_working(
    settings: Settings, scene: Scene
) -> None:
    with ws_client(settings) as client, client.websocket_connect("/v1/detect/ws") as ws:
        for message in GARBAGE:
            _send(ws, message)
            reply = ws.receive_json()
            assert reply["error"]["code"] in {"invalid_image", "invalid_input"}, reply
        ws.send_bytes(scene.jpeg())
        reply = ws.receive_json()
        assert reply["seq"] == len(GARBAGE) + 1 and reply["detections"]


def test_garbage_on_camera_and_event_sockets_is_ignored(settings: Settings) -> None:
    """Those sockets only send: whatever a client says is ignored and they keep sending."""
    with ws_client(settings) as client:
        body = {"id": "cam", "name": "Cam", "uri": "demo://?fps=5&width=320&height=180"}
        assert client.post("/v1/cameras", json=body).status_code == 201
        with client.websocket_connect("/v1/cameras/cam/ws?video=0") as ws:
            for message in GARBAGE:
                _send(ws, message)
            first = json.loads(ws.receive_text())
            second = json.loads(ws.receive_text())
            assert second["frame_id"] > first["frame_id"]
        with client.websocket_connect("/v1/events") as events:
            for message in GARBAGE:
                _send(events, message)
            client.post("/v1/cameras/cam/stop")
            seen = [json.loads(events.receive_text()) for _ in range(3)]
            while not any(e.get("state") == "stopped" for e in seen):
                seen.append(json.loads(events.receive_text()))
