"""/v1/jobs: background engine builds (TensorRT engines, ONNX Runtime optimised graphs) with
progress, cancellable. Progress also arrives on WS /v1/events as events of type "job"."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from appliance.api.deps import ActorDep, JobsDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.auth.audit import audited
from appliance.services.job_state import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
_ERRORS = error_responses(404, 409, 422)


class JobRequest(Schema):
    model: str = Field(description="A model in the repository (an ONNX file).")
    kind: Literal["tensorrt", "openvino", "onnxruntime"] = Field(
        description="tensorrt: a TensorRT engine (NVIDIA GPU with TensorRT); openvino: an INT8 "
        "model calibrated on the frames of the cameras that use it, checked against the "
        "original (OpenVINO with NNCF); onnxruntime: ONNX Runtime's optimised graph (anywhere)."
    )
    precision: Literal["fp16", "fp32", "int8"] | None = Field(
        None, description="Default: fp16 for TensorRT, int8 for OpenVINO, fp32 for ONNX Runtime."
    )
    max_batch: int | None = Field(
        None, ge=1, le=64, description="Largest batch the engine takes (default 8)."
    )


class JobOut(Schema):
    id: str
    model: str
    version: str
    kind: str
    precision: str
    max_batch: int
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    message: str
    created: float
    started: float | None
    finished: float | None
    seconds: float | None = Field(description="How long it ran, once finished.")
    cancel_requested: bool
    cached: bool = Field(description="Finished at once: the engine cache held this build.")
    cache_key: str | None
    artifact: str | None = Field(description="The built file, once succeeded.")
    error: str | None
    result: dict[str, Any] = Field(description="What the build reported (e.g. its check).")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            model=job.model,
            version=job.version,
            kind=job.kind,
            precision=job.precision,
            max_batch=job.max_batch,
            state=job.state.value,
            progress=job.progress,
            message=job.message,
            created=job.created,
            started=job.started,
            finished=job.finished,
            seconds=job.seconds,
            cancel_requested=job.cancel_requested,
            cached=job.cached,
            cache_key=job.cache_key,
            artifact=job.artifact,
            error=job.error,
            result=job.result,
        )


class JobList(Schema):
    jobs: list[JobOut]


@router.get("", response_model=JobList, summary="Jobs, newest first")
async def list_jobs(jobs: JobsDep) -> JobList:
    return JobList(jobs=[JobOut.of(job) for job in jobs.list()])


@router.post(
    "",
    response_model=JobOut,
    status_code=202,
    responses=_ERRORS,
    summary="Build an engine for a model in the background",
)
async def submit_job(
    body: JobRequest, jobs: JobsDep, response: Response, actor: ActorDep
) -> JobOut:
    with audited("job.submit", actor, target=body.model, kind=body.kind):
        job = jobs.submit(body.model, body.kind, body.precision, body.max_batch)
    response.headers["Location"] = f"{router.prefix}/{job.id}"
    return JobOut.of(job)


@router.get("/{job_id}", response_model=JobOut, responses=_ERRORS, summary="One job")
async def get_job(job_id: str, jobs: JobsDep) -> JobOut:
    return JobOut.of(jobs.get(job_id))


@router.delete("/{job_id}", response_model=JobOut, responses=_ERRORS, summary="Cancel a job")
async def delete_job(job_id: str, jobs: JobsDep, actor: ActorDep) -> JobOut:
    """Cancel: a queued job at once, a running build at its next step (`cancel_requested`)."""
    with audited("job.cancel", actor, target=job_id):
        return JobOut.of(jobs.cancel(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut, responses=_ERRORS, summary="Cancel a job")
async def cancel_job(job_id: str, jobs: JobsDep, actor: ActorDep) -> JobOut:
    """The same as DELETE /v1/jobs/{id}."""
    with audited("job.cancel", actor, target=job_id):
        return JobOut.of(jobs.cancel(job_id))
