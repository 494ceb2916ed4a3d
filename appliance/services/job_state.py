"""Background jobs as values: their states, the moves allowed between them, progress.

Pure functions over a frozen `Job`: the job service owns the thread and the lock and asks
this module what a job may become, so the rules are tested without threads.

    queued ──> running ──> succeeded
       │          ├──────> failed
       └──────────┴──────> cancelled
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from appliance.errors import ConflictError


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    **{state: frozenset() for state in FINISHED},
}


@dataclass(frozen=True)
class Job:
    """One engine build: what was asked, where it stands, what it left."""

    id: str
    model: str
    version: str
    kind: str  # "tensorrt" or "onnxruntime"
    precision: str
    max_batch: int
    created: float
    state: JobState = JobState.QUEUED
    progress: float = 0.0  # 0..1, never goes back
    message: str = "waiting for the builder"
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    cached: bool = False  # it finished at once: the cache held this build already
    cache_key: str | None = None  # the cache entry's digest, once known
    artifact: str | None = None  # the built file, once there
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)  # e.g. the build's check

    @property
    def seconds(self) -> float | None:
        """How long it ran (so far, if it is running: None)."""
        if self.started is None or self.finished is None:
            return None
        return round(self.finished - self.started, 3)

    def same_build(self, other: Job) -> bool:
        """Whether `other` asks for the very same build (a second submission of it)."""
        fields = ("model", "version", "kind", "precision", "max_batch")
        return all(getattr(self, name) == getattr(other, name) for name in fields)


def move(job: Job, state: JobState, now: float, **changes: Any) -> Job:
    """`job` in `state` (with `changes`); ConflictError if that move is not allowed."""
    if state not in MOVES[job.state]:
        raise ConflictError(f"job {job.id} is {job.state.value}; it cannot become {state.value}")
    stamps: dict[str, Any] = {}
    if state is JobState.RUNNING:
        stamps = {"started": now, "message": "starting"}
    elif state.finished:
        stamps = {"finished": now, "started": job.started if job.started is not None else now}
        if state is JobState.SUCCEEDED:
            stamps |= {"progress": 1.0, "message": "done"}
        elif state is JobState.CANCELLED:
            stamps |= {"message": "cancelled"}
    return dataclasses.replace(job, state=state, **{**stamps, **changes})


def advance(job: Job, fraction: float, message: str) -> Job:
    """A running job's progress moved on; progress never goes back, and reaches 1 only
    when the job succeeds."""
    if job.state is not JobState.RUNNING:
        return job
    progress = max(job.progress, min(0.99, max(0.0, fraction)))
    return dataclasses.replace(job, progress=round(progress, 4), message=message)


def request_cancel(job: Job, now: float) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop at its next step
    (the build notices and the job becomes cancelled then). Finished: ConflictError."""
    if job.state is JobState.QUEUED:
        return move(job, JobState.CANCELLED, now)
    if job.state is JobState.RUNNING:
        return dataclasses.replace(job, cancel_requested=True, message="cancelling")
    raise ConflictError(f"job {job.id} already {job.state.value}; nothing to cancel")


def as_event(job: Job) -> dict[str, Any]:
    """The job as a JSON-ready dict (WS /v1/events, logs)."""
    data = dataclasses.asdict(job)
    data["state"] = job.state.value
    data["seconds"] = job.seconds
    return data
