"""Signed URLs (for <img> tags) and ?access_token= on WebSockets, on a real camera."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import assert_error
from secured_app import Secured

from appliance.auth.scopes import Scope
from appliance.auth.signing import UrlSigner

SNAPSHOT = "/v1/cameras/cam/snapshot.jpg"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_signature_holds_for_its_path_until_it_expires() -> None:
    clock = Clock()
    signer = UrlSigner(lambda: b"k" * 32, clock)
    url = signer.sign(SNAPSHOT, ttl_s=60)
    assert url.startswith(SNAPSHOT + "?exp=")
    assert signer.check(SNAPSHOT, query_of(url))
    assert not signer.check("/v1/cameras/other/snapshot.jpg", query_of(url))  # other path
    clock.now += 61
    assert not signer.check(SNAPSHOT, query_of(url))  # expired


def test_tampering_and_other_keys_are_refused() -> None:
    clock = Clock()
    signer = UrlSigner(lambda: b"k" * 32, clock)
    query = query_of(signer.sign(SNAPSHOT))
    longer = {**query, "exp": str(int(query["exp"]) + 3600)}
    flipped = {**query, "sig": ("A" if query["sig"][0] != "A" else "B") + query["sig"][1:]}
    for forged in (longer, flipped, {"exp": query["exp"]}, {**query, "exp": "soon"}, {}):
        assert not signer.check(SNAPSHOT, forged)
    assert not UrlSigner(lambda: b"x" * 32, clock).check(SNAPSHOT, query)  # another install


def test_a_query_is_kept_and_left_outside_the_signature() -> None:
    signer = UrlSigner(lambda: b"k" * 32)
    url = signer.sign("/v1/cameras/cam/stream.mjpg?annotate=0&fps=5")
    assert url.startswith("/v1/cameras/cam/stream.mjpg?annotate=0&fps=5&exp=")
    assert signer.check("/v1/cameras/cam/stream.mjpg", query_of(url))
    for ttl in (0, -1, 86401):
        with pytest.raises(ValueError, match="ttl_s"):
            signer.sign(SNAPSHOT, ttl)


@pytest.fixture(scope="module")
def camera(secured: Secured) -> Iterator[str]:
    """A demo camera with a frame to show, removed afterwards."""
    operator = secured.headers(Scope.OPERATOR)
    body = {"id": "cam", "name": "Cam", "uri": "demo://", "fps_limit": 5}
    created = secured.client.post("/v1/cameras", json=body, headers=operator)
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 60
    while secured.client.get(SNAPSHOT, headers=secured.headers(Scope.VIEWER)).status_code != 200:
        assert time.monotonic() < deadline, "the camera never produced a frame"
        time.sleep(0.2)
    yield "cam"
    assert secured.client.delete("/v1/cameras/cam", headers=operator).status_code == 204


def test_a_signed_snapshot_url_needs_no_token(secured: Secured, camera: str) -> None:
    response = secured.client.get(secured.auth.sign(SNAPSHOT, ttl_s=30))
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"


def test_a_signed_url_is_refused_elsewhere_and_once_expired(secured: Secured, camera: str) -> None:
    signed = secured.auth.sign(SNAPSHOT, ttl_s=1)
    other = signed.replace("/cam/", "/other/")
    assert_error(secured.client.get(other), 401, "unauthorized")
    query = "?" + signed.split("?", 1)[1]
    assert_error(secured.client.get("/v1/cameras" + query), 401, "unauthorized")
    tampered = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    assert_error(secured.client.get(tampered), 401, "unauthorized")
    time.sleep(2.1)
    assert_error(secured.client.get(signed), 401, "unauthorized")


def test_a_signed_url_grants_reading_only(secured: Secured, camera: str) -> None:
    """Signed for a write route, it still needs a token (and never more than viewer)."""
    signed = secured.auth.sign("/v1/cameras/cam/stop")
    assert_error(secured.client.post(signed), 401, "unauthorized")


def test_camera_websocket_with_access_token_or_signed_url(secured: Secured, camera: str) -> None:
    viewer = secured.tokens[Scope.VIEWER]
    path = f"/v1/cameras/{camera}/ws"
    for url in (
        f"{path}?video=0&access_token={viewer}",
        secured.auth.sign(f"{path}?video=0"),
    ):
        with secured.client.websocket_connect(url) as ws:
            message = ws.receive_json()
            assert message["frame_id"] >= 1 and "detections" in message
