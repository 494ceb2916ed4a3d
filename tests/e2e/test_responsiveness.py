"""The event loop stays free while the service does its own housekeeping: model uploads
(validated and benchmarked), listings and cameras coming and going (benchmarks/
responsiveness.py measures the same with the issue's figures)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from helpers import start_server

from appliance.devtools.churn import churn
from appliance.devtools.models import second_model


def test_healthz_answers_quickly_while_models_upload_and_cameras_change(tmp_path: Path) -> None:
    models = [second_model(tmp_path / f"m{i}.onnx", variant=str(i)) for i in range(3)]
    camera = {"id": "demo", "name": "Demo", "uri": "demo://"}
    with start_server(tmp_path / "serve", [camera]) as server:
        report = asyncio.run(churn(server.url, models, camera_cycles=3))
    assert report.uploads == [201] * 3 and report.listings == [200] * 3
    assert sorted(report.camera_changes) == [201] * 3 + [204] * 3
    probes = np.array(report.healthz_ms)
    assert len(probes) > 20
    # generous for a shared CI machine; validation blocking the loop would take seconds
    assert np.percentile(probes, 99) < 500 and probes.max() < 2000, probes.round(1)
