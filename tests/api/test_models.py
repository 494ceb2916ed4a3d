"""/v1/models: repository, validated uploads, and blue/green activation under load."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
import websockets
from asgi_lifespan import LifespanManager
from helpers import (
    Scene,
    assert_error,
    compose_scene,
    second_model,
    start_server,
    wait_ready,
    write_clip,
)
from onnx import TensorProto, helper, numpy_helper

from appliance.app import create_app
from appliance.models.demo import demo_model_path
from appliance.settings import Settings


def two_input_model(path: Path) -> Path:
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 64, 64]) for n in "ab"]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 64, 64])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["out"])], "g", inputs, [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def unknown_output_model(path: Path) -> Path:
    """One image input, but an output no detection family has ([1, 7, 7])."""
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 7, 7])
    value = numpy_helper.from_array(np.zeros((1, 7, 7), np.float32), "value")
    nodes = [helper.make_node("Identity", ["value"], ["out"])]
    graph = helper.make_graph(nodes, "g", [image], [out], [value])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


async def upload(http: httpx.AsyncClient, path: Path, name: str | None = None) -> httpx.Response:
    data = {"name": name} if name else None
    with path.open("rb") as handle:
        return await http.post("/v1/models", files={"file": (path.name, handle.read())}, data=data)


@pytest.mark.anyio
async def test_demo_model_is_registered_and_serving(client: httpx.AsyncClient) -> None:
    (model,) = (await client.get("/v1/models")).json()["models"]
    assert model["name"] == "yolov3-tiny" and model["default"] and model["loaded"]
    assert model["source"] == "demo" and model["format"] == "onnx" and len(model["labels"]) == 80
    assert model["input_size"] == [416, 416] and model["output_family"] == "yolov5"
    assert model["suppress_nested"] == 0.8  # a Darknet import: nested boxes merge


@pytest.mark.anyio
async def test_broken_uploads_change_nothing(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """Not ONNX, truncated, two inputs, unknown outputs: 422 with the reason; a raw body 415."""
    before = (await client.get("/v1/models")).json()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(demo_model_path().read_bytes()[:100_000])
    (tmp_path / "text.onnx").write_text("hello")
    cases = {
        "text.onnx": "not a valid ONNX model",
        "cut.onnx": "not a valid ONNX model",
        two_input_model(tmp_path / "two.onnx").name: "2 inputs",
        unknown_output_model(tmp_path / "odd.onnx").name: "matches no known family",
    }
    for name, reason in cases.items():
        body = assert_error(await upload(client, tmp_path / name), 422, "unsupported_model")
        assert reason in body["error"]["message"], body
    raw = await client.post(
        "/v1/models", content=b"x", headers={"content-type": "application/octet-stream"}
    )
    assert_error(raw, 415, "unsupported_media_type")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04")
    assert_error(await upload(client, pickled), 422, "invalid_input")  # only ONNX, no pickles
    assert (await client.get("/v1/models")).json() == before


@pytest.mark.anyio
async def test_upload_validates_and_benchmarks(client: httpx.AsyncClient, tmp_path: Path) -> None:
    response = await upload(client, second_model(tmp_path / "second.onnx"))
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["name"] == "second" and not model["default"] and not model["loaded"]
    report = model["validation"]
    assert report["test_frame"]["detections"] > 0 and report["latency_ms"]["p50"] > 0
    assert report["output_family"] == "yolov5" and report["dynamic_batch"] is True
    assert report["suppress_nested"] == 0.8 and model["suppress_nested"] is None  # not loaded
    names = {m["name"] for m in (await client.get("/v1/models")).json()["models"]}
    assert names == {"yolov3-tiny", "second"}
    assert_error(await client.delete("/v1/models/yolov3-tiny"), 409, "conflict")
    assert (await client.delete("/v1/models/second")).status_code == 204
    assert_error(await client.get("/v1/models/second"), 404, "model_not_found")


def test_swap_under_load_loses_no_request_and_no_frame(tmp_path: Path, scene: Scene) -> None:
    """Over real sockets: a camera streams and detect requests run while the model is
    swapped; no request fails, frame ids skip at most one, the old engine is closed."""
    clip = write_clip(tmp_path / "clip.avi", frames=45)
    camera = {"id": "cam", "name": "Cam", "uri": f"file://{clip}"}
    with start_server(tmp_path / "serve", [camera]) as server:

        async def scenario() -> tuple[list[int], list[int], dict, list[str]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                created = await upload(http, second_model(tmp_path / "second.onnx"))
                assert created.status_code == 201, created.text
                statuses: list[int] = []
                frame_ids: list[int] = []
                frame_models: list[str] = []
                models_seen: list[str] = []
                stop = asyncio.Event()

                async def detect_loop() -> None:
                    # paced (5 a second, as benchmarks/swap.py): a client sending back to
                    # back takes every other engine run on two cores, and the camera then
                    # skips frames with or without a swap
                    jpeg = scene.jpeg()
                    while not stop.is_set():
                        r = await http.post(
                            "/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}
                        )
                        statuses.append(r.status_code)
                        await asyncio.sleep(0.2)
                        models_seen.append(
                            r.json()["model"]["name"] if r.status_code == 200 else ""
                        )

                async def watch() -> None:
                    uri = f"ws://127.0.0.1:{server.port}/v1/cameras/cam/ws?video=0"
                    async with websockets.connect(uri) as ws:
                        while not stop.is_set():
                            message = json.loads(await ws.recv())
                            frame_ids.append(message["frame_id"])
                            frame_models.append(message["model"]["name"])

                tasks = [asyncio.create_task(detect_loop()), asyncio.create_task(watch())]
                await asyncio.sleep(1.5)
                report = (await http.post("/v1/models/second/activate")).json()
                await asyncio.sleep(1.5)
                stop.set()
                await asyncio.gather(*tasks)
                models = {m["name"]: m for m in (await http.get("/v1/models")).json()["models"]}
                assert models["second"]["default"] and models["second"]["cameras"] == ["cam"]
                assert not models["yolov3-tiny"]["loaded"]
                metrics = (await http.get("/metrics")).text
                assert 'appliance_model_swaps_total{model="second"} 1.0' in metrics
                return statuses, (frame_ids, frame_models), report, models_seen

        statuses, (frame_ids, frame_models), report, models_seen = asyncio.run(scenario())
    assert statuses and set(statuses) == {200}
    assert models_seen[0] == "yolov3-tiny" and models_seen[-1] == "second"
    gaps = [b - a for a, b in itertools.pairwise(frame_ids)]
    switch = frame_models.index("second")  # the first frame the new engine processed
    assert frame_models[:switch] == ["yolov3-tiny"] * switch and switch > 5
    assert set(frame_models[switch:]) == {"second"}
    # The camera never stalls across the switch (under a second of frames). How many frames
    # a swap costs is a speed figure, measured by benchmarks/swap.py, not asserted here: on
    # two shared cores it swings with the machine's load (4-7 at the switch today, for the
    # code before the pipeline runtime too).
    assert len(frame_ids) > 20 and max(gaps) <= 15, gaps
    assert report["released"] == ["yolov3-tiny"] and report["cameras"] == ["cam"]
    assert report["load_ms"] > 0 and report["warmup_ms"] > 0


@pytest.mark.anyio
async def test_failed_activation_keeps_the_old_model(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/models/nope/activate"), 404, "model_not_found")
    (model,) = (await client.get("/v1/models")).json()["models"]
    assert model["default"] and model["loaded"]


@pytest.mark.anyio
async def test_activations_survive_a_restart(settings: Settings, tmp_path: Path) -> None:
    """A model activated for everything is still the default after a restart, and its
    engine is loaded and serving detect requests."""
    second = second_model(tmp_path / "second.onnx")
    for attempt in range(2):
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
                await wait_ready(http)
                if attempt == 0:
                    assert (await upload(http, second)).status_code == 201
                    assert (await http.post("/v1/models/second/activate")).status_code == 200
                else:
                    models = {m["name"]: m for m in (await http.get("/v1/models")).json()["models"]}
                    assert models["second"]["default"] and models["second"]["loaded"]
                    jpeg = compose_scene().jpeg()
                    detect = await http.post(
                        "/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}
                    )
                    assert detect.json()["model"]["name"] == "second"


def relabelled_model(path: Path) -> Path:
    """The demo network with 80 labels of its own: no "cat" among them."""
    model = onnx.load(str(demo_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    names = {i: f"thing{i}" for i in range(80)}
    helper.set_model_props(model, {**props, "names": repr(names)})
    onnx.save(model, str(path))
    return path


@pytest.mark.anyio
async def test_an_activation_that_cannot_switch_rolls_back(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A camera keeps only cats; a model without a "cat" label loads and warms up, but
    cannot serve that camera: the activation is refused with the reason and everything stays
    as it was (default, the camera's model and filter, what is loaded)."""
    await wait_ready(client)
    camera = {"id": "demo", "name": "Demo", "uri": "demo://", "classes": ["cat"]}
    created = await client.post("/v1/cameras", json=camera)
    assert created.status_code == 201, created.text
    assert (await upload(client, relabelled_model(tmp_path / "things.onnx"))).status_code == 201
    body = assert_error(await client.post("/v1/models/things/activate"), 422, "model_load_failed")
    assert "things was not activated" in body["error"]["message"]
    assert "'cat'" in body["error"]["message"]
    models = {m["name"]: m for m in (await client.get("/v1/models")).json()["models"]}
    assert models["yolov3-tiny"]["default"] and models["yolov3-tiny"]["loaded"]
    assert models["yolov3-tiny"]["cameras"] == ["demo"]
    assert not models["things"]["default"] and not models["things"]["loaded"]
    camera = (await client.get("/v1/cameras/demo")).json()
    assert camera["model"] is None and camera["classes"] == ["cat"]
    jpeg = compose_scene().jpeg()
    detect = await client.post("/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"})
    assert detect.json()["model"]["name"] == "yolov3-tiny"
    async with client.stream("GET", "/v1/cameras/demo/snapshot.jpg") as snapshot:
        assert snapshot.status_code == 200  # the camera still streams on the old engine
