"""Model files for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path


def second_model(path: Path, variant: str = "second") -> Path:
    """A second real model: the demo network with its own metadata, so its own sha256
    (another `variant`: another file again)."""
    import onnx  # only the callers that write a model pay for importing it
    from onnx import helper

    from appliance.models.demo import demo_model_path

    model = onnx.load(str(demo_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    helper.set_model_props(model, {**props, "variant": variant})
    onnx.save(model, str(path))
    return path
