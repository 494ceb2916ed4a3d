"""What a remote model sends is what NVIDIA's own `tritonclient` sends: RemoteEngine makes its
requests with tritonclient itself (binary tensor extension, bearer token in a header), and a
recording proxy in front of a real appliance (authentication on) shows the two requests are
the same bytes and follow the KServe v2 binary format Triton expects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from helpers import Server, compose_scene, start_server

from appliance.engines.remote import RemoteEngine, RemoteModel
from appliance.models.decode import letterbox, to_tensor
from appliance.models.demo import DEMO_MODEL_NAME

Recorded = tuple[str, dict[str, str], bytes]  # path, headers (lower-case), body


class Recorder:
    """An HTTP proxy on loopback that keeps every request it forwards."""

    def __init__(self, upstream: str) -> None:
        self.requests: list[Recorded] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.requests.append((self.path, headers, body))
                sent = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
                answer = httpx.request(
                    self.command, upstream + self.path, content=body, headers=sent, timeout=30
                )
                self.send_response(answer.status_code)
                for key in ("content-type", "inference-header-content-length"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def infers(self) -> list[Recorded]:
        return [r for r in self.requests if r[0].endswith("/infer")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("format"), auth=True) as running:
        yield running


@pytest.fixture
def recorder(big: Server) -> Iterator[Recorder]:
    proxy = Recorder(big.url)
    yield proxy
    proxy.close()


def test_remote_engine_requests_are_what_tritonclient_sends(
    big: Server, recorder: Recorder
) -> None:
    assert big.token
    target = RemoteModel.from_url(
        f"http://127.0.0.1:{recorder.port}", DEMO_MODEL_NAME, token=big.token
    )
    engine = RemoteEngine.connect(target)
    try:
        canvas, _ = letterbox(compose_scene().pixels, (416, 416), 114)
        tensor = to_tensor([canvas])
        ours = engine.infer(tensor)[0]
    finally:
        engine.close()

    client = triton.InferenceServerClient(f"127.0.0.1:{recorder.port}")
    try:
        data = triton.InferInput("images", list(tensor.shape), "FP32")
        data.set_data_from_numpy(tensor, binary_data=True)
        wanted = [triton.InferRequestedOutput("output0", binary_data=True)]
        headers = {"Authorization": f"Bearer {big.token}"}
        theirs = client.infer(DEMO_MODEL_NAME, [data], outputs=wanted, headers=headers)
    finally:
        client.close()

    (path, sent, body), (their_path, their_headers, their_body) = recorder.infers()
    assert (path, body) == (their_path, their_body)
    for key in ("authorization", "inference-header-content-length", "content-type"):
        assert sent.get(key) == their_headers.get(key), key
    np.testing.assert_array_equal(ours, theirs.as_numpy("output0"))

    # and that is the KServe v2 binary tensor extension, as Triton reads it
    assert path == f"/v2/models/{DEMO_MODEL_NAME}/infer"
    assert sent["authorization"] == f"Bearer {big.token}"
    split = int(sent["inference-header-content-length"])
    header = json.loads(body[:split])
    assert header["inputs"] == [
        {
            "name": "images",
            "shape": [1, 3, 416, 416],
            "datatype": "FP32",
            "parameters": {"binary_data_size": tensor.nbytes},
        }
    ]
    assert header["outputs"] == [{"name": "output0", "parameters": {"binary_data": True}}]
    assert body[split:] == tensor.tobytes()  # raw little-endian FP32, nothing else
    metadata = [p for p, h, _ in recorder.requests if p == f"/v2/models/{DEMO_MODEL_NAME}"]
    assert metadata, recorder.requests  # the model metadata was read through the proxy too


def test_a_pinned_version_goes_in_the_path(big: Server, recorder: Recorder) -> None:
    version = httpx.get(f"{big.url}/v1/models", headers=big.headers).json()["models"][0]
    target = RemoteModel.from_url(
        f"http://127.0.0.1:{recorder.port}/", DEMO_MODEL_NAME, version["version"], big.token or ""
    )
    engine = RemoteEngine.connect(target)
    try:
        engine.infer(np.full((1, 3, 416, 416), 0.5, np.float32))
    finally:
        engine.close()
    (path, _, _) = recorder.infers()[0]
    assert path == f"/v2/models/{DEMO_MODEL_NAME}/versions/{version['version']}/infer"
