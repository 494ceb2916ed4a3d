"""What a user does on the dashboard reaches the services, and every outcome is shown."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import second_model, write_clip
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from ui_harness import Dashboard, only, until

from ui.components.live_view import LiveView

pytestmark = pytest.mark.anyio


async def test_add_a_camera_with_test_connection(dashboard: Dashboard, tmp_path: Path):
    """Test connection shows the file's first frame; Save starts the camera and saves it."""
    clip = write_clip(tmp_path / "door.avi")
    user = dashboard.user
    await user.open("/cameras")
    user.find(marker="add-camera").click()
    await user.should_see(marker="camera-name")  # the form opens once the models are listed
    user.find(marker="camera-name").type("Front door")
    user.find(marker="camera-uri").type(f"file://{clip}")
    user.find(marker="camera-test").click()
    await user.should_see(marker="camera-preview", retries=100)
    await user.should_see("Connected: 640×360")
    user.find(marker="camera-save").click()
    await until(lambda: user.notify.contains("Added Front door"))
    view = dashboard.services.cameras.get("front-door")
    assert view.config.uri == f"file://{clip}"
    saved = json.loads((dashboard.services.cameras._store.path).read_text())
    assert "front-door" in [c["id"] for c in saved["cameras"]]
    await user.should_see(marker="camera-row-front-door", retries=100)


async def test_a_bad_uri_shows_the_reason_and_adds_nothing(dashboard: Dashboard):
    user = dashboard.user
    await user.open("/cameras")
    user.find(marker="add-camera").click()
    await user.should_see(marker="camera-name")  # the form opens once the models are listed
    user.find(marker="camera-name").type("Broken")
    user.find(marker="camera-uri").type("ftp://example/stream")
    user.find(marker="camera-save").click()
    await until(lambda: len(user.notify.messages) > 0)
    assert any("ftp" in message for message in user.notify.messages), user.notify.messages
    assert [v.config.id for v in dashboard.services.cameras.list()] == ["demo"]


async def test_test_connection_to_a_dead_source_says_so(dashboard: Dashboard, tmp_path: Path):
    user = dashboard.user
    await user.open("/cameras")
    user.find(marker="add-camera").click()
    await user.should_see(marker="camera-uri")  # the form opens once the models are listed
    user.find(marker="camera-uri").type(f"file://{tmp_path}/missing.mp4")
    user.find(marker="camera-test").click()
    await until(lambda: len(user.notify.messages) > 0)
    assert "missing.mp4" in user.notify.messages[-1]
    await user.should_not_see(marker="camera-preview")


async def test_camera_page_filters_apply(dashboard: Dashboard):
    """Confidence and class filters change the running camera; boxes off shows raw frames."""
    user = dashboard.user
    await user.open("/cameras/demo")
    slider = only(dashboard, "confidence")
    slider.value = 0.6
    user.find(marker="confidence").trigger("change")
    await until(lambda: dashboard.services.cameras.get("demo").config.conf == 0.6)
    classes = only(dashboard, "classes")
    classes.value = ["cat"]  # what picking "cat" in the browser does
    await until(lambda: dashboard.services.cameras.get("demo").config.classes == ["cat"])
    (live,) = user.find(LiveView).elements

    def only_cats() -> bool:
        found = live.frame.result.detections if live.frame else []
        return bool(found) and {d.label for d in found} == {"cat"}

    await until(only_cats)
    user.find(marker="boxes").click()
    assert live.annotate is False
    await until(lambda: "annotate=0" in live.source)


async def test_upload_then_activate_a_model(dashboard: Dashboard, tmp_path: Path):
    """Upload through the Models page shows the validation report; Activate everywhere swaps
    the model and shows the swap report; the demo camera then runs on the new model."""
    data = second_model(tmp_path / "second.onnx").read_bytes()
    user = dashboard.user
    await user.open("/models")
    (upload,) = user.find(ui.upload).elements
    await upload.handle_uploads([SmallFileUpload("second.onnx", "application/octet-stream", data)])
    await until(lambda: user.notify.contains("second added"), timeout=60)
    await user.should_see(marker="validation-report", retries=100)
    await user.should_see(marker="model-second", retries=100)
    user.find(marker="activate-second").click()
    user.find(marker="activate-go").click()
    await user.should_see(marker="swap-report", retries=300)
    assert dashboard.services.detection.default_model == "second"
    await until(lambda: dashboard.services.cameras.cameras_using("second") == {"demo"})


async def test_activate_for_one_camera_only(dashboard: Dashboard, tmp_path: Path):
    await dashboard.services.models.upload("second", second_model(tmp_path / "second.onnx"))
    user = dashboard.user
    await user.open("/models")
    await user.should_see(marker="activate-second")  # listed off the event loop
    user.find(marker="activate-second").click()
    only(dashboard, "activate-scope").value = "some"
    only(dashboard, "activate-cameras").value = ["demo"]
    user.find(marker="activate-go").click()
    await user.should_see(marker="swap-report", retries=300)
    assert dashboard.services.detection.default_model != "second"
    assert dashboard.services.cameras.get("demo").config.model == "second"


async def test_a_broken_upload_is_refused_with_the_reason(dashboard: Dashboard):
    user = dashboard.user
    await user.open("/models")
    (upload,) = user.find(ui.upload).elements
    broken = SmallFileUpload("junk.onnx", "application/octet-stream", b"not a model at all")
    await upload.handle_uploads([broken])
    await until(lambda: len(user.notify.messages) > 0, timeout=60)
    assert not user.notify.contains("added"), user.notify.messages
    assert [m.meta.name for m in await dashboard.services.models.list()] == ["yolov3-tiny"]


async def test_build_an_engine_from_the_models_page(dashboard: Dashboard):
    """Build → "Optimise for this machine" queues a real ONNX Runtime optimisation job; the
    panel follows it to succeeded. A TensorRT build on a machine without it is refused with
    the reason."""
    user = dashboard.user
    await user.open("/models")
    await user.should_see(marker="build-yolov3-tiny-onnxruntime")  # listed off the event loop
    user.find(marker="build-yolov3-tiny-onnxruntime").click()
    await until(lambda: user.notify.contains("Build of yolov3-tiny queued"))
    (job,) = dashboard.services.jobs.list()
    await user.should_see(marker=f"job-{job.id}", retries=50)
    await until(lambda: dashboard.services.jobs.get(job.id).state.finished, timeout=120)
    assert dashboard.services.jobs.get(job.id).state.value == "succeeded"
    await user.should_see("succeeded", marker=f"job-state-{job.id}", retries=50)
    if importlib.util.find_spec("tensorrt") is not None:
        return  # a TensorRT machine would really build
    user.find(marker="build-yolov3-tiny-tensorrt").click()
    await until(lambda: any("TensorRT" in m for m in user.notify.messages))
    assert len(dashboard.services.jobs.list()) == 1


async def test_an_int8_build_from_the_models_page_can_be_cancelled(dashboard: Dashboard):
    """Build → "Build INT8 from this model's cameras" queues a real OpenVINO INT8 job (it
    starts sampling the cameras); its row's cancel button stops it, and the card still says
    which engine and precision serve the model."""
    pytest.importorskip("nncf")
    user = dashboard.user
    await user.open("/models")
    await user.should_see(marker="build-yolov3-tiny-openvino")
    user.find(marker="build-yolov3-tiny-openvino").click()
    await until(lambda: user.notify.contains("Build of yolov3-tiny queued"))
    (job,) = dashboard.services.jobs.list()
    assert (job.kind, job.precision) == ("openvino", "int8")
    await user.should_see(marker=f"job-cancel-{job.id}", retries=50)
    user.find(marker=f"job-cancel-{job.id}").click()
    await until(lambda: dashboard.services.jobs.get(job.id).state.finished, timeout=60)
    assert dashboard.services.jobs.get(job.id).state.value == "cancelled"
    await user.should_see("cancelled", marker=f"job-state-{job.id}", retries=50)
    (view,) = await dashboard.services.models.list()
    await user.should_see(" · ".join(p for p in (view.backend, view.device, view.precision) if p))


async def test_test_connection_only_reads_the_media_folders(dashboard: Dashboard):
    """Test connection opens nothing a camera could not: no file outside the media dirs."""
    user = dashboard.user
    await user.open("/cameras")
    user.find(marker="add-camera").click()
    await user.should_see(marker="camera-uri")  # the form opens once the models are listed
    user.find(marker="camera-uri").type("file:///etc/passwd")
    user.find(marker="camera-test").click()
    await until(lambda: len(user.notify.messages) > 0)
    assert "outside the folders" in user.notify.messages[-1], user.notify.messages
    await user.should_not_see(marker="camera-preview")
