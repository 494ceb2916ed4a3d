"""Process settings from the environment, defaults, and the data-dir rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.services.detection import ModelSpec
from appliance.settings import Settings, default_data_dir


def test_defaults_serve_the_demo_model_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APPLIANCE_MODELS", "APPLIANCE_HOST", "APPLIANCE_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.models == ["demo"] and settings.host == "0.0.0.0" and settings.port == 8080
    assert settings.max_upload_bytes == 20 * 1024 * 1024


def test_environment_variables_and_comma_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APPLIANCE_PORT", "9001")
    monkeypatch.setenv("APPLIANCE_MODELS", "demo, other=/m/x.onnx")
    monkeypatch.setenv("APPLIANCE_PROVIDERS", "cuda,cpu")
    monkeypatch.setenv("APPLIANCE_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.port == 9001 and settings.data_dir == tmp_path
    assert settings.models == ["demo", "other=/m/x.onnx"] and settings.providers == ["cuda", "cpu"]
    assert Settings(port=7000).port == 7000  # explicit values (CLI flags) win over the environment


@pytest.mark.parametrize(
    ("field", "value"), [("port", 0), ("providers", "npu"), ("max_upload_mb", -1)]
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_data_dir_prefers_systemd_then_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/appliance:/var/lib/other")
    assert default_data_dir() == Path("/var/lib/appliance")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_DATA_HOME", "/home/u/.data")
    assert default_data_dir() == Path("/home/u/.data/appliance")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local/share/appliance"


def test_model_specs() -> None:
    assert ModelSpec.parse("demo").name == "yolov3-tiny"
    assert ModelSpec.parse("/m/yolo11n.onnx") == ModelSpec("yolo11n", Path("/m/yolo11n.onnx"))
    assert ModelSpec.parse("fast=/m/a.onnx") == ModelSpec("fast", Path("/m/a.onnx"))
