"""POST /v1/vision/detection against a real `appliance serve` (uvicorn on loopback, the demo
model, real photos), called the way DeepStack clients call it: Frigate's `deepstack`
detector posts a PIL-encoded JPEG as the multipart file `image` and its key as the form
field `api_key`, with `requests`, and reads `predictions` most confident first."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import httpx
import numpy as np
import pytest
import requests
from helpers import ROOT, Scene, Server, assert_error, inside, start_server
from PIL import Image

PATH = "/v1/vision/detection"
UPLOAD_MB = 1  # APPLIANCE_MAX_UPLOAD_MB of the served instance
PREDICTION_KEYS = {"label", "confidence", "x_min", "y_min", "x_max", "y_max"}


@dataclass(frozen=True)
class Served:
    server: Server
    operator: str  # tokens made with `appliance token create`
    viewer: str

    @property
    def url(self) -> str:
        return self.server.url + PATH


def create_token(server: Server, scope: str) -> str:
    data_dir = server.log.parent / "data"
    command = ["token", "create", "--name", f"nvr-{scope}", "--scope", scope]
    made = subprocess.run(
        [sys.executable, "-m", "appliance", *command, "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {"APPLIANCE_MAX_UPLOAD_MB": str(UPLOAD_MB), "APPLIANCE_AUTH_MAX_FAILURES": "3"}
    with start_server(tmp_path_factory.mktemp("deepstack"), auth=True, env=env) as server:
        yield Served(server, create_token(server, "operator"), create_token(server, "viewer"))


def client_at(address: str) -> httpx.Client:
    """A client from its own loopback address: failed authentications count per address
    (3 lock it out here), so each test that fails some locks out no other."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def pil_jpeg(pixels_bgr: np.ndarray) -> bytes:
    """What Frigate's plugin sends: the frame through PIL, saved as JPEG."""
    image = Image.fromarray(np.ascontiguousarray(pixels_bgr[:, :, ::-1]))
    with io.BytesIO() as output:
        image.save(output, format="JPEG")
        return output.getvalue()


def frigate_post(url: str, api_key: str, image: bytes, **data: str) -> requests.Response:
    """The request of frigate/detectors/plugins/deepstack.py, field for field."""
    return requests.post(url, data={"api_key": api_key, **data}, files={"image": image}, timeout=30)


def predictions(response: requests.Response | httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    found = body["predictions"]
    assert body["count"] == len(found)
    assert body["duration"] >= body["processMs"] - 1 >= 0
    for p in found:
        assert set(p) == PREDICTION_KEYS
        assert all(isinstance(p[k], int) for k in PREDICTION_KEYS - {"label", "confidence"})
    confidences = [p["confidence"] for p in found]
    assert confidences == sorted(confidences, reverse=True)  # Frigate stops at the first low one
    return found


def assert_deepstack_error(response: requests.Response | httpx.Response, status: int) -> str:
    """DeepStack's error body (CodeProject.AI's `code` too), never the API's usual one."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"success", "error", "code", "duration"}
    assert body["success"] is False and body["code"] == status and body["error"]
    assert response.headers["x-request-id"]
    return str(body["error"])


def box(p: dict) -> dict[str, float]:
    return {"x1": p["x_min"], "y1": p["y_min"], "x2": p["x_max"], "y2": p["y_max"]}


def iou(a: dict[str, float], b: dict[str, float]) -> float:
    w = max(0.0, min(a["x2"], b["x2"]) - max(a["x1"], b["x1"]))
    h = max(0.0, min(a["y2"], b["y2"]) - max(a["y1"], b["y1"]))
    area = (a["x2"] - a["x1"]) * (a["y2"] - a["y1"]) + (b["x2"] - b["x1"]) * (b["y2"] - b["y1"])
    return w * h / (area - w * h)


def scaled(rect: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = rect
    return round(x1 * factor), round(y1 * factor), round(x2 * factor), round(y2 * factor)


def test_frigate_request_finds_what_v1_detect_finds(served: Served, scene: Scene) -> None:
    """Same labels and boxes as /v1/detect at DeepStack's default min_confidence (0.4), in
    whole pixels of the uploaded image, each photo found where it was placed."""
    image = pil_jpeg(scene.pixels)
    found = predictions(frigate_post(served.url, served.operator, image))
    reference = httpx.post(
        f"{served.server.url}/v1/detect?conf=0.4",
        content=image,
        headers={**served.server.headers, "content-type": "image/jpeg"},
    ).json()["detections"]
    assert sorted(p["label"] for p in found) == sorted(d["label"] for d in reference)
    for p, d in zip(found, sorted(reference, key=lambda d: -d["confidence"]), strict=True):
        assert p["label"] == d["label"] and p["confidence"] == pytest.approx(d["confidence"], 1e-3)
        for key, value in box(p).items():
            assert abs(value - d["box"][key]) <= 0.5 + 1e-6, (key, p, d)
    assert {p["label"] for p in found} == set(scene.where)
    for p in found:
        assert inside(box(p), scene.where[p["label"]]), p
        assert 0 <= p["x_min"] < p["x_max"] <= 1280 and 0 <= p["y_min"] < p["y_max"] <= 720


@pytest.mark.parametrize("size", [(640, 360), (416, 416)], ids=["640x360", "416x416"])
def test_boxes_are_in_the_pixels_of_the_image_sent(
    served: Served, scene: Scene, size: tuple[int, int]
) -> None:
    """Frigate sends regions at its model's input size, not the camera's: the boxes are in
    the pixels of whatever was sent."""
    width, height = size
    factor = min(width / 1280, height / 720)
    canvas = np.full((height, width, 3), 90, np.uint8)
    resized = cv2.resize(scene.pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    found = predictions(frigate_post(served.url, served.operator, pil_jpeg(canvas)))
    full = predictions(frigate_post(served.url, served.operator, pil_jpeg(scene.pixels)))
    assert {p["label"] for p in found} == set(scene.where)
    for p in found:
        assert inside(box(p), scaled(scene.where[p["label"]], factor)), p
        assert p["x_max"] <= width and p["y_max"] <= height
        big = box(next(f for f in full if f["label"] == p["label"]))
        shrunk = {key: value * factor for key, value in big.items()}  # the full-size box
        assert iou(box(p), shrunk) > 0.8, (p, shrunk)


def test_min_confidence_filters(served: Served, scene: Scene) -> None:
    image = pil_jpeg(scene.pixels)
    default = predictions(frigate_post(served.url, served.operator, image))
    assert default and all(p["confidence"] >= 0.4 for p in default)
    strict = predictions(frigate_post(served.url, served.operator, image, min_confidence="0.7"))
    assert strict == [p for p in default if p["confidence"] >= 0.7]
    assert 0 < len(strict) < len(default)  # the scene's cup scores between 0.4 and 0.7
    loose = predictions(frigate_post(served.url, served.operator, image, min_confidence="0.05"))
    assert len(loose) > len(default) and min(p["confidence"] for p in loose) < 0.4
    assert all(p["confidence"] >= 0.05 for p in loose)


def test_max_det_in_the_url_caps_the_predictions(served: Served, scene: Scene) -> None:
    """Frigate keeps 20 predictions a region (more break its detector); it posts to its
    api_url as written, so `?max_det=20` there caps them: the most confident ones."""
    image = pil_jpeg(scene.pixels)
    default = predictions(frigate_post(served.url, served.operator, image, min_confidence="0.05"))
    assert len(default) > 2
    capped = frigate_post(f"{served.url}?max_det=2", served.operator, image, min_confidence="0.05")
    assert predictions(capped) == default[:2]
    assert_deepstack_error(frigate_post(f"{served.url}?max_det=0", served.operator, image), 400)


def test_a_bearer_header_serves_as_well(served: Served, scene: Scene) -> None:
    """Clients that can send a header need no api_key; a viewer's token is too small."""
    files = {"image": ("frame.jpg", scene.jpeg(), "image/jpeg")}
    operator = {"Authorization": f"Bearer {served.operator}"}
    assert predictions(httpx.post(served.url, files=files, headers=operator, timeout=30))
    viewer = {"Authorization": f"Bearer {served.viewer}"}
    refused = httpx.post(served.url, files=files, headers=viewer, timeout=30)
    assert "operator" in assert_deepstack_error(refused, 403)
    # a header is checked before the body is read: not a 413 for a body over the limit
    huge = {"image": ("big.jpg", b"x" * (UPLOAD_MB * 2**20 + 1), "image/jpeg")}
    assert_deepstack_error(httpx.post(served.url, files=huge, headers=viewer, timeout=30), 403)
    with client_at("127.0.0.70") as other:  # failures count per address: not the others'
        wrong = {"Authorization": "Bearer apl_0_wrong"}
        assert_deepstack_error(other.post(served.url, files=huge, headers=wrong), 401)


@pytest.mark.parametrize(
    ("api_key", "status", "address"),
    [
        ("", 401, "127.0.0.81"),  # Frigate's default: no key at all
        ("apl_00000000_" + "x" * 43, 401, "127.0.0.82"),
        ("not a token", 401, "127.0.0.83"),
        ("viewer", 403, "127.0.0.84"),
    ],
    ids=["frigate-default-empty", "unknown", "malformed", "viewer-scope"],
)
def test_a_wrong_api_key_is_refused(
    served: Served, scene: Scene, api_key: str, status: int, address: str
) -> None:
    form = {"api_key": served.viewer if api_key == "viewer" else api_key}
    with client_at(address) as other:
        refused = other.post(served.url, data=form, files={"image": pil_jpeg(scene.pixels)})
    assert_deepstack_error(refused, status)
    if status == 401:
        assert refused.headers["www-authenticate"] == "Bearer"


def test_repeated_wrong_keys_lock_the_client_out(served: Served, scene: Scene) -> None:
    """Wrong api_keys count as failed authentications like wrong bearer tokens: the 3rd
    (APPLIANCE_AUTH_MAX_FAILURES) locks the address out, even for a right key, with 429."""
    files = {"image": scene.jpeg()}
    with client_at("127.0.0.77") as guesser:
        for _ in range(3):
            wrong = guesser.post(served.url, data={"api_key": "apl_0_wrong"}, files=files)
            assert_deepstack_error(wrong, 401)
        locked = guesser.post(served.url, data={"api_key": served.operator}, files=files)
        assert_deepstack_error(locked, 429)
        assert int(locked.headers["retry-after"]) >= 1
    assert predictions(frigate_post(served.url, served.operator, scene.jpeg()))  # others go on


def test_bad_requests_get_deepstack_errors(served: Served, scene: Scene) -> None:
    key, url = served.operator, served.url
    jpeg = scene.jpeg()
    cases = [
        (frigate_post(url, key, jpeg[: len(jpeg) // 2]), 400),  # a cut-off JPEG
        (frigate_post(url, key, b"not an image at all"), 400),
        (requests.post(url, data={"api_key": key}, timeout=30), 400),  # no image
        (frigate_post(url, key, jpeg, min_confidence="high"), 400),
        (frigate_post(url, key, jpeg, min_confidence="1.5"), 400),
        (frigate_post(url, key, jpeg, model="nope"), 404),
        (frigate_post(url, key, b"x" * (UPLOAD_MB * 2**20 + 1)), 413),
        (frigate_post(url, key, png_header(20000, 20000)), 413),  # a pixel bomb's header
    ]
    for response, status in cases:
        assert_deepstack_error(response, status)
    text_part = {"image": ("notes.txt", b"hello", "text/plain")}
    as_text = requests.post(url, data={"api_key": key}, files=text_part, timeout=30)
    assert_deepstack_error(as_text, 415)
    raw = requests.post(url, data=jpeg, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert_deepstack_error(raw, 415)  # DeepStack takes forms only


def test_the_rest_of_the_api_keeps_its_error_body(served: Served) -> None:
    refused = httpx.post(
        f"{served.server.url}/v1/detect",
        content=b"not an image",
        headers={**served.server.headers, "content-type": "image/jpeg"},
    )
    assert_error(refused, 422, "invalid_image")


def test_without_authentication_any_key_is_ignored(
    tmp_path_factory: pytest.TempPathFactory, scene: Scene
) -> None:
    """APPLIANCE_AUTH=0 (loopback only): Frigate's default empty key, or any key, works."""
    with start_server(tmp_path_factory.mktemp("deepstack-open")) as server:
        for key in ("", "anything"):
            found = predictions(frigate_post(server.url + PATH, key, pil_jpeg(scene.pixels)))
            assert {p["label"] for p in found} == set(scene.where)


def test_keyless_nvrs_are_served_when_the_owner_opts_in(
    tmp_path_factory: pytest.TempPathFactory, scene: Scene
) -> None:
    """APPLIANCE_DEEPSTACK_KEYLESS=1 with authentication on: a request without api_key (as
    Blue Iris sends it) is served; a wrong key is still refused, and the rest of the API still
    needs a token."""
    env = {"APPLIANCE_DEEPSTACK_KEYLESS": "1"}
    with start_server(tmp_path_factory.mktemp("keyless"), auth=True, env=env) as server:
        jpeg = pil_jpeg(scene.pixels)
        no_field = requests.post(server.url + PATH, files={"image": jpeg}, timeout=30)
        for answer in (no_field, frigate_post(server.url + PATH, "", jpeg)):
            assert {p["label"] for p in predictions(answer)} == set(scene.where)
        wrong = frigate_post(server.url + PATH, "apl_wrong_key", jpeg)
        assert_deepstack_error(wrong, 401)
        bare = httpx.post(
            f"{server.url}/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}
        )
        assert_error(bare, 401, "unauthorized")


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: the header alone is refused."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
