"""Engine build jobs: queued, run one at a time in a background thread so serving goes on,
progress published on the event bus (`{"type": "job", "job": {...}}` on `WS /v1/events`),
cancellable.

What the API and the dashboard call (all cheap and non-blocking, safe from the event loop):

    jobs.list() -> list[Job]                 newest first
    jobs.get(job_id) -> Job                  JobNotFoundError (404) if unknown
    jobs.submit(model, kind, precision=None, max_batch=None) -> Job
        queue a build of a repository model ("tensorrt", "openvino" (int8) or
        "onnxruntime"); the same build
        already queued or running is returned instead of a second one. A build the cache
        already holds completes at once (`cached`: true).
    jobs.cancel(job_id) -> Job               queued: cancelled now; running: stops at its
                                             next step; finished: ConflictError (409)

Jobs live in memory (the last `keep` finished ones); what they built lives in the engine
cache, so after a restart the same job completes at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger

from appliance.errors import (
    ApplianceError,
    BackendUnavailableError,
    BuildCancelledError,
    InvalidInputError,
    JobNotFoundError,
)
from appliance.models.builds import (
    DEFAULT_MAX_BATCH,
    BuildRequest,
    EngineBuilder,
    FrameSupplier,
    default_precision,
)
from appliance.models.repository import ModelMeta, ModelRepository
from appliance.services.events import EventBus
from appliance.services.job_state import (
    Job,
    JobState,
    advance,
    as_event,
    move,
    request_cancel,
)

PUBLISH_EVERY_S = 0.25  # progress events at most this often (TensorRT reports many steps)


class JobService:
    def __init__(
        self,
        repository: ModelRepository | None,
        builder: EngineBuilder | None,
        events: EventBus,
        *,
        on_finished: Callable[[Job], None] | None = None,
        frames: Callable[[str], FrameSupplier | None] | None = None,
        keep: int = 100,
    ) -> None:
        self._repository = repository
        self._builder = builder
        self._frames = frames  # a model's cameras' frames (INT8 calibration)
        self._events = events
        self._on_finished = on_finished  # e.g. Prometheus
        self._keep = keep
        self._jobs: dict[str, Job] = {}
        self._sources: dict[str, ModelMeta] = {}  # the model version each job builds
        self._queue: deque[str] = deque()
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._published: dict[str, float] = {}
        self._order = itertools.count()

    @classmethod
    def without_builds(cls) -> JobService:
        """A job service that lists nothing and refuses builds (service sets made by hand)."""
        return cls(None, None, EventBus())

    def list(self) -> list[Job]:
        with self._wake:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def get(self, job_id: str) -> Job:
        with self._wake:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        return job

    def counts(self) -> dict[str, int]:
        """Jobs by state (all states, zeros included), for metrics."""
        counted = {state.value: 0 for state in JobState}
        for job in self.list():
            counted[job.state.value] += 1
        return counted

    def submit(
        self,
        model: str,
        kind: str,
        precision: str | None = None,
        max_batch: int | None = None,
    ) -> Job:
        if self._builder is None or self._repository is None:
            raise BackendUnavailableError("engine builds are not configured in this process")
        precision = precision or default_precision(kind)
        max_batch = max_batch or DEFAULT_MAX_BATCH
        self._builder.check(kind, precision, max_batch)
        meta = self._repository.get(model)
        if meta.format != "onnx":
            raise InvalidInputError(f"{model} is {meta.format}; builds start from ONNX models")
        job = Job(
            id=uuid.uuid4().hex[:12],
            model=model,
            version=meta.version,
            kind=kind,
            precision=precision,
            max_batch=max_batch,
            created=time.time() + next(self._order) * 1e-6,  # ties keep submission order
        )
        with self._wake:
            if self._stopping:
                raise BackendUnavailableError("the appliance is shutting down")
            same = [j for j in self._jobs.values() if not j.state.finished and j.same_build(job)]
            if same:
                return same[0]
            self._sources[job.id] = meta
            self._store(job, force=True)
            self._queue.append(job.id)
            self._start_worker()
            self._wake.notify_all()
        logger.info("job {} queued: {} build of {} {}", job.id, kind, model, meta.version)
        return job

    def cancel(self, job_id: str) -> Job:
        with self._wake:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFoundError(f"no job {job_id!r}")
            job = self._store(request_cancel(job, time.time()), force=True)
        if job.state is JobState.CANCELLED:
            self._finished(job)
        else:
            logger.info("job {} asked to stop", job_id)
        return job

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until the job finishes or `timeout` passes; the job as it then stands."""
        deadline = time.monotonic() + timeout
        self.get(job_id)  # unknown: JobNotFoundError
        with self._wake:
            while not self._jobs[job_id].state.finished and time.monotonic() < deadline:
                self._wake.wait(max(0.0, min(0.5, deadline - time.monotonic())))
            return self._jobs[job_id]

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: queued jobs are cancelled, a running build is asked to stop."""
        with self._wake:
            self._stopping = True
            worker = self._worker
            waiting = [self._jobs[i] for i in self._queue if i in self._jobs]
            for job in self._jobs.values():
                if job.state is JobState.RUNNING:
                    self._store(request_cancel(job, time.time()), force=True)
            self._wake.notify_all()
        for job in waiting:
            if job.state is JobState.QUEUED:
                self.cancel(job.id)
        if worker is not None:
            worker.join(timeout)

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="engine-builds", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        assert self._builder is not None
        self._builder.cache.sweep()  # whatever a crash mid-build left
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._jobs.get(self._queue.popleft())
            if job is None or job.state is not JobState.QUEUED:
                continue  # cancelled while it waited
            try:
                with self._wake:
                    job = self._store(move(job, JobState.RUNNING, time.time()), force=True)
                self._run(job)
            except Exception as exc:  # never let one job stop the builder for the others
                logger.opt(exception=exc).error("job {} broke the builder", job.id)
                self._fail(job.id, repr(exc))

    def _fail(self, job_id: str, error: str) -> None:
        with self._wake:
            job = self._jobs[job_id]
            if job.state.finished:
                return
            job = self._store(move(job, JobState.FAILED, time.time(), error=error), force=True)
        self._finished(job)

    def _run(self, job: Job) -> None:
        assert self._builder is not None and self._repository is not None
        meta = self._sources[job.id]
        request = BuildRequest(
            model=job.model,
            version=job.version,
            onnx=self._repository.path(meta),
            sha256=meta.sha256,
            kind=job.kind,
            precision=job.precision,
            max_batch=job.max_batch,
            frames=self._frames(job.model) if self._frames and job.kind == "openvino" else None,
        )
        state, changes = self._build(job.id, request)
        with self._wake:
            done = move(self._jobs[job.id], state, time.time(), **changes)
            self._store(done, force=True)
        self._finished(done)

    def _build(self, job_id: str, request: BuildRequest) -> tuple[JobState, dict[str, Any]]:
        """Look the build up in the cache, else run it: the state the job ends in."""
        assert self._builder is not None
        if not request.onnx.is_file():  # deleted (or replaced) while the job waited
            error = f"model {request.model} {request.version} is no longer in the repository"
            return JobState.FAILED, {"error": error, "message": "failed"}
        try:
            key = self._builder.key(request)
            self._update(job_id, cache_key=key.digest())
            entry = self._builder.cached(key)
            cached = entry is not None
            if entry is None:
                entry = self._builder.build(
                    request,
                    key,
                    progress=lambda fraction, message: self._progress(job_id, fraction, message),
                    cancelled=lambda: self.get(job_id).cancel_requested,
                )
        except BuildCancelledError:
            return JobState.CANCELLED, {}
        except ApplianceError as exc:
            return JobState.FAILED, {"error": exc.message, "message": "failed"}
        except Exception as exc:  # a bug or a library's own error: the job says so, not a crash
            logger.opt(exception=exc).error("job {} crashed", job_id)
            return JobState.FAILED, {"error": repr(exc), "message": "failed"}
        result = dict(entry.meta.details)
        return JobState.SUCCEEDED, {"cached": cached, "artifact": str(entry.path), "result": result}

    def _progress(self, job_id: str, fraction: float, message: str) -> None:
        with self._wake:
            self._store(advance(self._jobs[job_id], fraction, message))

    def _update(self, job_id: str, **changes: object) -> None:
        with self._wake:
            self._store(dataclasses.replace(self._jobs[job_id], **changes))

    def _finished(self, job: Job) -> None:
        logger.info(
            "job {} {}: {} build of {}{}{}",
            job.id, job.state.value, job.kind, job.model,
            " (from the cache)" if job.cached else "",
            f": {job.error}" if job.error else "",
        )  # fmt: skip
        with self._wake:
            self._wake.notify_all()  # wait() callers
            self._prune()
        if self._on_finished is not None:
            self._on_finished(job)

    def _prune(self) -> None:
        finished = sorted(
            (j for j in self._jobs.values() if j.state.finished), key=lambda j: j.created
        )
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]
            self._sources.pop(job.id, None)
            self._published.pop(job.id, None)

    def _store(self, job: Job, force: bool = False) -> Job:
        """Keep `job`'s new state and publish it (the caller holds the lock, so events leave
        in the order the states were reached). Progress is published at most every
        PUBLISH_EVERY_S; `force`: state changes, always."""
        self._jobs[job.id] = job
        now = time.monotonic()
        if force or now - self._published.get(job.id, 0.0) >= PUBLISH_EVERY_S:
            self._published[job.id] = now
            self._publish(job)
        return job

    def _publish(self, job: Job) -> None:
        # nested: the event's own `type`/`kind` keys must not clash with the job's fields
        self._events.publish("job", job=as_event(job))
