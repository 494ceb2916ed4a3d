"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter

from appliance.api.deps import DetectionDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Health, LoadedModelOut, Readiness
from appliance.errors import NotReadyError
from appliance.services.detection import ServiceState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=error_responses(503),
    summary="Readiness: models loaded and warmed up",
)
async def readyz(detection: DetectionDep) -> Readiness:
    readiness = detection.readiness
    if readiness.state is not ServiceState.READY:
        if readiness.state is ServiceState.FAILED:
            raise NotReadyError(f"models failed to load: {readiness.error}")
        raise NotReadyError("models are loading and warming up", retry_after=1.0)
    models = [LoadedModelOut(**vars(m)) for m in readiness.models]
    return Readiness(status="ready", models=models)
