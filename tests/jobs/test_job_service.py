"""The job service with real builds: ONNX Runtime optimising the real demo model in the
background thread, progress on the event bus, cancellation, the cache across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import second_model

from appliance.engines.onnxruntime import OnnxRuntimeConfig, OnnxRuntimeEngine
from appliance.engines.platform import probe_platform
from appliance.errors import (
    BackendUnavailableError,
    ConflictError,
    InvalidInputError,
    JobNotFoundError,
    ModelNotFoundError,
)
from appliance.models.builds import EngineBuilder
from appliance.models.demo import demo_model_path
from appliance.models.engine_cache import EngineCache
from appliance.models.repository import ModelRepository
from appliance.services.events import Event, EventBus
from appliance.services.job_state import Job, JobState
from appliance.services.jobs import JobService

CPU = OnnxRuntimeConfig(providers=("cpu",), intra_op_threads=2)
DEMO = "demo"


class RecordingBus(EventBus):
    """The real event bus, also keeping every event in order and calling `hook` (in the
    publishing thread) on each: a test can act at an exact point of a job's life."""

    def __init__(self) -> None:
        super().__init__(history=1000)
        self.seen: list[Event] = []
        self.hook = lambda event: None

    def publish(self, kind: str, **data: object) -> Event:
        event = super().publish(kind, **data)
        self.seen.append(event)
        self.hook(event)
        return event

    def jobs(self, job_id: str) -> list[dict]:
        return [e["job"] for e in self.seen if e["type"] == "job" and e["job"]["id"] == job_id]


@dataclass
class Setup:
    data: Path
    repository: ModelRepository
    bus: RecordingBus
    finished: list[Job]

    def service(self) -> JobService:
        """A job service as an app builds it: a new one is what a restart makes."""
        cache = EngineCache(self.data / "cache" / "engines")
        builder = EngineBuilder(cache, CPU, self.data / "cache" / "tensorrt")
        return JobService(self.repository, builder, self.bus, on_finished=self.finished.append)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    repository = ModelRepository(tmp_path / "models")
    repository.add(DEMO, demo_model_path(), source="demo")
    return Setup(tmp_path, repository, RecordingBus(), [])


@pytest.fixture
def jobs(setup: Setup) -> Iterator[JobService]:
    service = setup.service()
    yield service
    service.close()


def test_an_onnx_runtime_build_optimises_the_real_model(setup: Setup, jobs: JobService) -> None:
    job = jobs.submit(DEMO, "onnxruntime")
    assert (job.state, job.precision, job.max_batch) == (JobState.QUEUED, "fp32", 8)
    done = jobs.wait(job.id, timeout=120)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.progress == 1.0 and not done.cached and done.seconds is not None
    artifact = Path(str(done.artifact))
    assert artifact.parent == setup.data / "cache" / "engines" / str(done.cache_key)
    assert (artifact.parent / "meta.json").is_file()
    assert done.result["check"]["relative_error"] <= 1e-3

    # the optimised graph is a different file computing the same function
    original = OnnxRuntimeEngine.load(demo_model_path(), CPU)
    optimised = OnnxRuntimeEngine.load(artifact, CPU)
    try:
        assert artifact.read_bytes() != demo_model_path().read_bytes()
        assert optimised.metadata == original.metadata  # labels travel with it
        tensor = np.random.default_rng(1).random((2, 3, 416, 416), dtype=np.float32)
        np.testing.assert_allclose(
            optimised.infer(tensor)[0], original.infer(tensor)[0], rtol=1e-4, atol=1e-3
        )
    finally:
        original.close()
        optimised.close()

    states = [e["state"] for e in setup.bus.jobs(job.id)]
    assert states[0] == "queued" and states[1] == "running" and states[-1] == "succeeded"
    progress = [e["progress"] for e in setup.bus.jobs(job.id)]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert setup.finished == [done]


def test_a_restart_finds_the_build_in_the_cache(setup: Setup) -> None:
    first = setup.service()
    try:
        built = first.wait(first.submit(DEMO, "onnxruntime").id, timeout=120)
    finally:
        first.close()
    assert built.state is JobState.SUCCEEDED and not built.cached
    again = setup.service()  # a new process on the same data dir
    try:
        assert again.list() == []  # jobs are not kept; builds are
        hit = again.wait(again.submit(DEMO, "onnxruntime").id, timeout=30)
    finally:
        again.close()
    assert hit.state is JobState.SUCCEEDED and hit.cached
    assert (hit.cache_key, hit.artifact) == (built.cache_key, built.artifact)
    assert hit.seconds is not None and hit.seconds < built.seconds  # type: ignore[operator]


def test_a_running_build_stops_when_cancelled(setup: Setup, jobs: JobService) -> None:
    def cancel_once_running(event: Event) -> None:
        job = event.get("job", {})
        if job.get("state") == "running" and not job["cancel_requested"]:
            jobs.cancel(job["id"])

    setup.bus.hook = cancel_once_running
    job = jobs.submit(DEMO, "onnxruntime")
    done = jobs.wait(job.id, timeout=120)
    assert done.state is JobState.CANCELLED and done.cancel_requested
    events = setup.bus.jobs(job.id)
    assert any(e["message"] == "cancelling" and e["state"] == "running" for e in events)
    engines = setup.data / "cache" / "engines"
    assert not engines.exists() or list(engines.iterdir()) == []  # nothing half-built kept
    assert setup.finished[-1].state is JobState.CANCELLED
    with pytest.raises(ConflictError):
        jobs.cancel(job.id)


def test_a_queued_job_is_cancelled_at_once(setup: Setup, jobs: JobService) -> None:
    setup.repository.add("second", second_model(setup.data / "second.onnx"), source="test")
    first = jobs.submit(DEMO, "onnxruntime")
    queued = jobs.submit("second", "onnxruntime")  # one builder: it waits behind the first
    cancelled = jobs.cancel(queued.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.started == cancelled.finished
    assert jobs.wait(first.id, timeout=120).state is JobState.SUCCEEDED
    assert jobs.get(queued.id).state is JobState.CANCELLED  # the worker skipped it
    assert [j.id for j in jobs.list()] == [queued.id, first.id]  # newest first
    assert jobs.counts() == {
        "queued": 0,
        "running": 0,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 1,
    }


def test_the_same_build_twice_is_one_job(jobs: JobService) -> None:
    first = jobs.submit(DEMO, "onnxruntime")
    assert jobs.submit(DEMO, "onnxruntime").id == first.id
    jobs.wait(first.id, timeout=120)
    assert jobs.submit(DEMO, "onnxruntime").id != first.id  # finished: a new job (a cache hit)


def test_what_cannot_be_built_is_refused_before_it_queues(jobs: JobService) -> None:
    with pytest.raises(ModelNotFoundError):
        jobs.submit("nope", "onnxruntime")
    with pytest.raises(InvalidInputError, match="fp32"):
        jobs.submit(DEMO, "onnxruntime", precision="fp16")
    if not probe_platform().can_run_tensorrt:
        with pytest.raises(BackendUnavailableError, match="TensorRT"):
            jobs.submit(DEMO, "tensorrt")
    with pytest.raises(JobNotFoundError):
        jobs.get("nope")
    assert jobs.list() == []


def test_a_build_whose_model_went_away_fails_with_the_reason(
    setup: Setup, jobs: JobService
) -> None:
    setup.repository.add("second", second_model(setup.data / "second.onnx"), source="test")
    first = jobs.submit(DEMO, "onnxruntime")
    doomed = jobs.submit("second", "onnxruntime")
    setup.repository.delete("second", active=set())  # deleted while its job waits
    jobs.wait(first.id, timeout=120)
    failed = jobs.wait(doomed.id, timeout=60)
    assert failed.state is JobState.FAILED and failed.error and "second" in failed.error


def test_close_cancels_what_waits(setup: Setup) -> None:
    setup.repository.add("second", second_model(setup.data / "second.onnx"), source="test")
    service = setup.service()
    first = service.submit(DEMO, "onnxruntime")
    waiting = service.submit("second", "onnxruntime")
    service.close(timeout=120)
    assert service.get(waiting.id).state is JobState.CANCELLED
    assert service.get(first.id).state in {JobState.CANCELLED, JobState.SUCCEEDED}
    with pytest.raises(BackendUnavailableError, match="shutting down"):
        service.submit(DEMO, "onnxruntime")


def test_a_hand_made_service_set_refuses_builds() -> None:
    service = JobService.without_builds()
    assert service.list() == []
    with pytest.raises(BackendUnavailableError):
        service.submit(DEMO, "onnxruntime")
