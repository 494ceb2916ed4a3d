"""The Open Inference Protocol (KServe v2) as the official tritonclient sees it, against the
real appliance on loopback, and a RemoteEngine on that appliance (appliance to appliance)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from asgi_lifespan import LifespanManager
from helpers import Server, compose_scene, free_port, inside, start_server, wait_ready
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from appliance.app import create_app
from appliance.domain import DetectParams, ModelRef
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.remote import RemoteConfig, RemoteEngine, RemoteModel
from appliance.errors import InferenceError, ModelLoadError
from appliance.models.decode import letterbox, to_tensor
from appliance.models.demo import DEMO_MODEL_NAME, demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.labels import parse_names
from appliance.settings import Settings

MODEL = DEMO_MODEL_NAME


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # ONNX Runtime, as `local`: the protocol must carry the engine's numbers exactly, and
    # `auto` may pick OpenVINO in bf16 (a CPU with AMX or avx512_bf16), ~1 % off fp32.
    with start_server(
        tmp_path_factory.mktemp("v2"), env={"APPLIANCE_ENGINE": "onnxruntime"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def local() -> Iterator[Detector]:
    """The same demo model, run in-process: what the protocol's answers must equal."""
    detector = Detector.load(MODEL, demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    yield detector
    detector.close()


@pytest.fixture
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}", network_timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def scene_tensor(local: Detector) -> np.ndarray:
    """The test scene as the demo model's input: a real image, so outputs are meaningful."""
    canvas, _ = letterbox(compose_scene().pixels, local.input_hw, local.fill)
    return to_tensor([canvas])


def _request(
    client: triton.InferenceServerClient, tensor: np.ndarray, *, binary: bool, **kwargs: object
) -> triton.InferResult:
    data = triton.InferInput("images", list(tensor.shape), np_to_triton_dtype(tensor.dtype))
    data.set_data_from_numpy(tensor, binary_data=binary)
    wanted = [triton.InferRequestedOutput("output0", binary_data=binary)]
    return client.infer(MODEL, [data], outputs=wanted, **kwargs)


def test_server_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert {"binary_tensor_data", "model_repository"} <= set(metadata["extensions"])
    assert client.is_model_ready(MODEL)
    assert not client.is_model_ready("nope")


def test_model_metadata_matches_the_engine(
    client: triton.InferenceServerClient, local: Detector, server: Server
) -> None:
    metadata = client.get_model_metadata(MODEL)
    backend = httpx.get(f"{server.url}/v1/models/{MODEL}").json()["backend"]
    platform = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino"}[backend]
    assert metadata == client.get_model_metadata(MODEL, model_version=local.ref.version)
    assert metadata["name"] == MODEL
    assert metadata["versions"] == [local.ref.version]
    assert metadata["platform"] == platform
    for got, spec in zip(
        metadata["inputs"] + metadata["outputs"],
        [*local.engine.inputs, *local.engine.outputs],
        strict=True,
    ):
        assert got["name"] == spec.name
        assert got["datatype"] == "FP32"
        assert got["shape"] == [d if isinstance(d, int) else -1 for d in spec.shape]
    assert got["shape"] == [-1, 2535, 85]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_equals_the_engine_in_process(
    client: triton.InferenceServerClient,
    local: Detector,
    scene_tensor: np.ndarray,
    binary: bool,
) -> None:
    result = _request(client, scene_tensor, binary=binary, request_id="r-1")
    output = result.as_numpy("output0")
    assert output.dtype == np.float32
    assert output.shape == (1, 2535, 85)
    np.testing.assert_allclose(output, local.engine.infer(scene_tensor)[0], rtol=1e-4, atol=1e-4)
    response = result.get_response()
    assert response["model_name"] == MODEL
    assert response["model_version"] == local.ref.version
    assert response["id"] == "r-1"


def test_batch_of_two_with_all_outputs_binary_by_default(
    client: triton.InferenceServerClient, local: Detector, scene_tensor: np.ndarray
) -> None:
    batch = np.concatenate([scene_tensor, scene_tensor[:, :, ::-1]])
    data = triton.InferInput("images", list(batch.shape), "FP32")
    data.set_data_from_numpy(batch)
    result = client.infer(MODEL, [data], model_version=local.ref.version)  # no outputs named
    assert result.get_output("output0")["parameters"]["binary_data_size"] > 0
    output = result.as_numpy("output0")
    assert output.shape == (2, 2535, 85)
    np.testing.assert_allclose(output, local.engine.infer(batch)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_compressed_request(
    client: triton.InferenceServerClient,
    local: Detector,
    scene_tensor: np.ndarray,
    compression: str,
) -> None:
    result = _request(client, scene_tensor, binary=True, request_compression_algorithm=compression)
    expected = local.engine.infer(scene_tensor)[0]
    np.testing.assert_allclose(result.as_numpy("output0"), expected, rtol=1e-4, atol=1e-4)


def _error(call: object, *args: object, **kwargs: object) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_errors_as_tritonclient_sees_them(
    client: triton.InferenceServerClient, scene_tensor: np.ndarray
) -> None:
    unknown = _error(client.get_model_metadata, "nope")
    assert unknown.status() == "404"
    assert "nope" in unknown.message()
    version = _error(client.get_model_metadata, MODEL, model_version="0")
    assert version.status() == "404"
    assert "version" in version.message()
    wrong_shape = _error(_request, client, scene_tensor[:, :, :320, :320], binary=True)
    assert wrong_shape.status() == "400"
    assert "shape [1, 3, 320, 320]" in wrong_shape.message()
    assert "[-1, 3, 416, 416]" in wrong_shape.message()
    wrong_type = _error(_request, client, scene_tensor.astype(np.float16), binary=True)
    assert wrong_type.status() == "400"
    assert "FP16" in wrong_type.message()
    assert "FP32" in wrong_type.message()
    data = triton.InferInput("pixels", list(scene_tensor.shape), "FP32")
    data.set_data_from_numpy(scene_tensor)
    wrong_name = _error(client.infer, MODEL, [data])
    assert wrong_name.status() == "400"
    assert "'images'" in wrong_name.message()


def test_error_bodies_take_tritons_shape_with_a_request_id(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.post(f"/v2/models/{MODEL}/infer", content=b"{not json")
        assert response.status_code == 400
        assert set(response.json()) == {"error"}
        assert "invalid inference request" in response.json()["error"]
        assert response.headers["x-request-id"]
        cut = http.post(
            f"/v2/models/{MODEL}/infer",
            content=b"{}",
            headers={"Inference-Header-Content-Length": "99"},
        )
        assert cut.status_code == 400
        assert "Inference-Header-Content-Length" in cut.json()["error"]


@pytest.mark.anyio
async def test_body_over_the_limit_is_refused_while_read(
    settings: Settings, scene_tensor: np.ndarray
) -> None:
    small = settings.model_copy(update={"max_upload_mb": 0.25, "max_batch_images": 2})
    binary = {"binary_data_size": scene_tensor.nbytes}
    tensor = {"name": "images", "shape": [1, 3, 416, 416], "datatype": "FP32"}
    header = json.dumps({"inputs": [{**tensor, "parameters": binary}]})
    app = create_app(small)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as http:
            await wait_ready(http)
            response = await http.post(
                f"/v2/models/{MODEL}/infer",
                content=header.encode() + scene_tensor.tobytes(),
                headers={"Inference-Header-Content-Length": str(len(header))},
            )
    assert response.status_code == 413
    assert "524288 bytes" in response.json()["error"]  # 0.25 MiB x a batch of 2


def test_json_only_answer_is_plain_json(server: Server) -> None:
    body = {"inputs": [{"name": "images", "shape": [1, 3, 416, 416], "datatype": "FP32",
                        "data": [0.5] * (3 * 416 * 416)}]}  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post(f"/v2/models/{MODEL}/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in response.headers
    (output,) = response.json()["outputs"]
    assert output["shape"] == [1, 2535, 85]
    assert len(output["data"]) == 2535 * 85


def test_repository(client: triton.InferenceServerClient, local: Detector) -> None:
    index = client.get_model_repository_index()
    assert index == [{"name": MODEL, "version": local.ref.version, "state": "READY", "reason": ""}]
    client.load_model(MODEL)  # configured, hence loaded: a no-op success
    assert _error(client.load_model, "nope").status() == "404"
    unload = _error(client.unload_model, MODEL)
    assert unload.status() == "400"
    assert "/v1/models" in unload.message()


def test_remote_engine_on_the_appliance_matches_the_local_engine(
    server: Server, local: Detector, scene_tensor: np.ndarray
) -> None:
    engine = RemoteEngine.connect(f"triton://127.0.0.1:{server.port}/{MODEL}")
    try:
        assert (engine.backend, engine.device) == ("triton", f"remote 127.0.0.1:{server.port}")
        assert [(s.name, s.dtype) for s in engine.outputs] == [("output0", "float32")]
        assert engine.inputs[0].shape == (None, 3, 416, 416)
        assert engine.inputs[0].dynamic_batch
        assert parse_names(engine.metadata["names"]) == local.labels  # via /config parameters
        batch = np.concatenate([scene_tensor, scene_tensor])
        np.testing.assert_allclose(
            engine.infer(batch)[0], local.engine.infer(batch)[0], rtol=1e-4, atol=1e-4
        )

        remote = Detector(ModelRef(MODEL, local.ref.version), engine, local.labels)
        scene = compose_scene()
        (result,) = remote.detect([DecodedImage(scene.pixels)], DetectParams(conf=0.4))
        for label, rect in scene.where.items():
            assert any(d.label == label and inside(d, rect) for d in result.detections), label
    finally:
        engine.close()


def test_remote_engine_errors_become_appliance_errors(server: Server) -> None:
    with pytest.raises(ModelLoadError, match="nope"):
        RemoteEngine.connect(f"triton://127.0.0.1:{server.port}/nope")
    with pytest.raises(ModelLoadError, match=r"127\.0\.0\.1"):
        RemoteEngine.connect(f"triton://127.0.0.1:{free_port()}/{MODEL}", RemoteConfig())
    engine = RemoteEngine.connect(f"triton://127.0.0.1:{server.port}/{MODEL}")
    try:
        with pytest.raises(InferenceError, match="shape"):
            engine.infer(np.zeros((1, 3, 32, 32), np.float32))
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("triton://gpu-box:8000/yolo", RemoteModel("gpu-box", 8000, "yolo")),
        ("triton://10.0.0.2/yolo/3", RemoteModel("10.0.0.2", 8000, "yolo", "3")),
    ],
)
def test_remote_uri(uri: str, parsed: RemoteModel) -> None:
    assert RemoteModel.parse(uri) == parsed


@pytest.mark.parametrize("uri", ["http://h:1/m", "triton://h:1/", "triton://h:x/m", "triton:/h/m"])
def test_bad_remote_uri(uri: str) -> None:
    with pytest.raises(ModelLoadError, match="not a triton://"):
        RemoteModel.parse(uri)
