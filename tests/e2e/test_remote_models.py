"""Remote models end to end: a second real appliance on loopback serves a model over its /v2
(Open Inference Protocol, authentication on); the first registers it with POST /v1/models
(JSON), routes a demo camera to it and detects through it; the second is killed (the camera
shows why, the first stays responsive) and restarted on its port (the camera recovers by
itself); the registration survives a restart and rolls back like any model."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from helpers import Scene, Server, assert_error, assert_finds_scene, free_port, start_server
from websockets.sync.client import connect

from appliance.models.demo import DEMO_MODEL_NAME

CAMERA = {"id": "door", "name": "Door", "uri": "demo://"}


class Remote:
    """The big appliance: stopped and started again on the same port and data dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self._stack: ExitStack | None = None
        self.server: Server | None = None

    def start(self, first: bool = False) -> Server:
        self._stack = ExitStack()
        cameras = [] if first else None  # None: a restart on what the data dir holds
        self.server = self._stack.enter_context(
            start_server(self.workdir, cameras=cameras, auth=True, port=self.port)
        )
        return self.server

    def kill(self) -> None:
        assert self.server is not None and self._stack is not None
        self.server.process.kill()  # gone at once, as a crashed or unplugged box would be
        self.server.process.wait(10)
        self._stack.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        assert self.server is not None and self.server.token
        return self.server.token


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    big = Remote(tmp_path_factory.mktemp("big-box"))
    big.start(first=True)
    yield big
    if big.server is not None and big.server.process.poll() is None:
        big.kill()


@pytest.fixture(scope="module")
def edge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge")


@pytest.fixture(scope="module")
def edge(edge_dir: Path) -> Iterator[Server]:
    with start_server(edge_dir, cameras=[CAMERA]) as server:
        yield server


def _register(edge: Server, remote: dict[str, str], name: str = "big") -> httpx.Response:
    body = {"name": name, "remote": remote}
    return httpx.post(f"{edge.url}/v1/models", json=body, timeout=60)


def _model_names(edge: Server) -> set[str]:
    return {m["name"] for m in httpx.get(f"{edge.url}/v1/models").json()["models"]}


def _frame_from(edge: Server, model: str, timeout_s: float = 30) -> dict:
    """The camera's next inferred frame that `model` served (WS /v1/cameras/door/ws)."""
    deadline = time.monotonic() + timeout_s
    with connect(f"{edge.ws_url}/v1/cameras/door/ws?video=0", open_timeout=10) as ws:
        while time.monotonic() < deadline:
            frame = httpx.Response(200, content=ws.recv(timeout=10)).json()
            if frame["model"]["name"] == model and not frame["carried"]:
                return frame
    raise AssertionError(f"no frame from {model} in {timeout_s} s")


def _camera_error(edge: Server) -> str | None:
    return httpx.get(f"{edge.url}/v1/cameras/door").json()["status"]["inference_error"]


def test_bad_registrations_are_refused_and_nothing_is_kept(edge: Server, remote: Remote) -> None:
    good = {"url": remote.url, "model": DEMO_MODEL_NAME, "token": remote.token}
    refused = {
        "unreachable": {**good, "url": f"http://127.0.0.1:{free_port()}"},
        "unknown model": {**good, "model": "nope"},
        "wrong token": {**good, "token": "not-the-token"},
        "no token": {"url": remote.url, "model": DEMO_MODEL_NAME},
    }
    reasons = {}
    for case, target in refused.items():
        start = time.monotonic()
        body = assert_error(_register(edge, target, name="bad"), 422, "model_load_failed")
        assert time.monotonic() - start < 10, case  # bounded: connect timeout 3 s
        reasons[case] = body["error"]["message"]
    assert "Connection refused" in reasons["unreachable"]
    assert "nope" in reasons["unknown model"]
    assert "HTTP 401" in reasons["wrong token"]
    assert "HTTP 401" in reasons["no token"]
    assert "not-the-token" not in str(reasons)
    malformed = {"url": "ftp://127.0.0.1/", "model": DEMO_MODEL_NAME}
    assert (
        "http(s)://"
        in assert_error(_register(edge, malformed), 422, "invalid_input")["error"]["message"]
    )
    missing = httpx.post(
        f"{edge.url}/v1/models", json={"name": "bad", "remote": {"url": remote.url}}
    )
    assert assert_error(missing, 422, "validation_error")["error"]["message"].startswith(
        "body.remote.model"
    )
    assert "bad" not in _model_names(edge)
    assert "big" not in _model_names(edge)


def test_a_remote_model_is_validated_and_serves_a_camera_and_detect(
    edge: Server, edge_dir: Path, remote: Remote, scene: Scene
) -> None:
    response = _register(edge, {"url": remote.url, "model": DEMO_MODEL_NAME, "token": remote.token})
    assert response.status_code == 201, response.text
    big = response.json()
    assert big["format"] == "remote"
    assert big["remote"] == {
        "url": remote.url,
        "model": DEMO_MODEL_NAME,
        "version": "",
        "token": True,
    }
    assert big["source"] == f"{remote.url}/v2/models/{DEMO_MODEL_NAME}"
    validation = big["validation"]
    assert validation["backend"] == "triton"
    assert validation["latency_ms"]["p50"] > 0
    assert validation["test_frame"]["detections"] > 0  # a real frame of the demo scene
    assert big["input_size"] == [416, 416]
    assert "person" in big["labels"]  # from the remote's model config parameters
    assert not big["loaded"]  # registered, not yet serving
    # no engine here can be quantized from it: an INT8 build is refused, nothing is queued
    int8 = {"model": "big", "kind": "openvino", "precision": "int8"}
    refused = httpx.post(f"{edge.url}/v1/jobs", json=int8, timeout=30)
    assert "ONNX" in assert_error(refused, 422, "invalid_input")["error"]["message"]
    assert httpx.get(f"{edge.url}/v1/jobs").json() == {"jobs": []}
    # the token: only in a 0600 file beside the version, never in the API or the log
    (token_file,) = (edge_dir / "data" / "models" / "big").glob("*/token")
    assert token_file.read_text().strip() == remote.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    listed = httpx.get(f"{edge.url}/v1/models").text
    assert "big" in listed and remote.token not in listed

    swap = httpx.post(f"{edge.url}/v1/models/big/activate", json={"cameras": ["door"]}, timeout=60)
    assert swap.status_code == 200, swap.text
    assert swap.json()["cameras"] == ["door"]
    frame = _frame_from(edge, "big")
    assert frame["model"]["version"] == big["version"]
    assert any(
        d["label"] == "person" and d["box"]["x2"] > d["box"]["x1"] for d in frame["detections"]
    )
    serving = httpx.get(f"{edge.url}/v1/models/big").json()
    assert (serving["loaded"], serving["backend"]) == (True, "triton")
    assert serving["device"] == f"remote 127.0.0.1:{remote.port}"
    assert serving["cameras"] == ["door"]

    detected = httpx.post(
        f"{edge.url}/v1/detect",
        params={"model": "big", "conf": 0.4},
        content=scene.jpeg(),
        headers={"content-type": "image/jpeg"},
        timeout=30,
    )
    assert detected.status_code == 200, detected.text
    assert detected.json()["model"]["name"] == "big"
    assert_finds_scene(detected.json(), scene.where)
    assert remote.token not in edge.log_text()


def test_the_camera_fails_while_the_remote_is_gone_and_recovers_by_itself(
    edge: Server, remote: Remote, scene: Scene
) -> None:
    remote.kill()
    deadline, worst, error = time.monotonic() + 20, 0.0, None
    while error is None and time.monotonic() < deadline:
        start = time.monotonic()
        assert httpx.get(f"{edge.url}/healthz").status_code == 200
        worst = max(worst, time.monotonic() - start)
        error = _camera_error(edge)
        time.sleep(0.1)
    assert error is not None, "the camera shows no error with its remote gone"
    assert f"127.0.0.1:{remote.port} is unreachable" in error
    assert worst < 0.5, worst  # the event loop never waits on the remote
    start = time.monotonic()
    gone = httpx.post(
        f"{edge.url}/v1/detect",
        params={"model": "big"},
        content=scene.jpeg(),
        headers={"content-type": "image/jpeg"},
        timeout=30,
    )
    assert time.monotonic() - start < 5
    assert assert_error(gone, 503, "remote_unavailable")
    assert gone.headers["retry-after"] == "1"
    status = httpx.get(f"{edge.url}/v1/cameras/door").json()["status"]
    assert status["state"] == "streaming"  # capture goes on; only inference fails

    remote.start()  # same port, same data dir and token
    deadline = time.monotonic() + 30
    while _camera_error(edge) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _camera_error(edge) is None, "the camera did not recover"
    assert _frame_from(edge, "big")["detections"]


def test_the_registration_survives_a_restart_and_rolls_back_like_any_model(
    edge: Server, edge_dir: Path, remote: Remote
) -> None:
    edge.process.terminate()
    edge.process.wait(15)
    with start_server(edge_dir, cameras=None) as again:  # door is saved on big
        serving = httpx.get(f"{again.url}/v1/models/big").json()
        assert (serving["loaded"], serving["cameras"]) == (True, ["door"])
        assert _frame_from(again, "big")["detections"]
        # a second registration with a new token is the same version, the token replaced
        renewed = _register(
            again, {"url": remote.url, "model": DEMO_MODEL_NAME, "token": remote.token}
        )
        assert renewed.status_code == 201, renewed.text
        assert renewed.json()["version"] == serving["version"]

        back = httpx.post(
            f"{again.url}/v1/models/{DEMO_MODEL_NAME}/activate",
            json={"cameras": ["door"]},
            timeout=60,
        )
        assert back.status_code == 200, back.text
        assert "big" in back.json()["released"]  # nothing uses it: its connection closed
        assert _frame_from(again, DEMO_MODEL_NAME)["detections"]
        assert httpx.delete(f"{again.url}/v1/models/big").status_code == 204
        assert "big" not in _model_names(again)
