"""Typed dependencies: the only place that knows where the app keeps its services.

Each is `async def` though none awaits: FastAPI runs a plain `def` dependency in its thread
pool, a hop to another thread and back for every request (two of them cost a detect request
~0.3 ms of the event loop's time, and more while the engine's threads hold the cores)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from appliance.auth.audit import Actor
from appliance.auth.scopes import Principal
from appliance.errors import NotReadyError
from appliance.services.auth import AuthService
from appliance.services.cameras import CameraService
from appliance.services.container import Services
from appliance.services.detection import DetectionService
from appliance.services.event_archive import EventArchive
from appliance.services.events import EventBus
from appliance.services.jobs import JobService
from appliance.services.models import ModelService
from appliance.services.recorder import DetectionRecorder
from appliance.services.scene import SceneService
from appliance.services.telemetry import TelemetryService


async def get_services(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services


async def get_detection(services: Annotated[Services, Depends(get_services)]) -> DetectionService:
    return services.detection


async def get_recorder(services: Annotated[Services, Depends(get_services)]) -> DetectionRecorder:
    return services.recorder


ServicesDep = Annotated[Services, Depends(get_services)]
DetectionDep = Annotated[DetectionService, Depends(get_detection)]
RecorderDep = Annotated[DetectionRecorder, Depends(get_recorder)]


async def get_cameras(services: Annotated[Services, Depends(get_services)]) -> CameraService:
    return services.cameras


async def get_events(services: Annotated[Services, Depends(get_services)]) -> EventBus:
    return services.events


CamerasDep = Annotated[CameraService, Depends(get_cameras)]


async def get_scene(services: Annotated[Services, Depends(get_services)]) -> SceneService:
    return services.scene


SceneDep = Annotated[SceneService, Depends(get_scene)]
EventsDep = Annotated[EventBus, Depends(get_events)]


async def get_event_archive(services: Annotated[Services, Depends(get_services)]) -> EventArchive:
    if services.archive is None:
        raise NotReadyError("this instance records no events")
    return services.archive


EventArchiveDep = Annotated[EventArchive, Depends(get_event_archive)]


async def get_telemetry(services: Annotated[Services, Depends(get_services)]) -> TelemetryService:
    return services.telemetry


TelemetryDep = Annotated[TelemetryService, Depends(get_telemetry)]


async def get_models(services: Annotated[Services, Depends(get_services)]) -> ModelService:
    return services.models


ModelsDep = Annotated[ModelService, Depends(get_models)]


async def get_jobs(services: Annotated[Services, Depends(get_services)]) -> JobService:
    return services.jobs


JobsDep = Annotated[JobService, Depends(get_jobs)]


async def get_auth(services: Annotated[Services, Depends(get_services)]) -> AuthService:
    return services.auth


async def get_principal(connection: HTTPConnection) -> Principal | None:
    """Who the request acts as, as the router's Access dependency found (None: auth off)."""
    return _principal_of(connection)


def _principal_of(connection: HTTPConnection) -> Principal | None:
    """The principal the Access dependency put on the connection (shared with get_actor)."""
    principal: Principal | None = getattr(connection.state, "principal", None)
    return principal


AuthDep = Annotated[AuthService, Depends(get_auth)]
PrincipalDep = Annotated[Principal | None, Depends(get_principal)]


async def get_actor(connection: HTTPConnection, services: ServicesDep) -> Actor:
    """Who acts, for audit lines: the client address and the token's id (None: auth off)."""
    principal = _principal_of(connection)
    token_id = principal.token_id if principal is not None else None
    return Actor(client=services.auth.guard.client_address(connection), token_id=token_id)


ActorDep = Annotated[Actor, Depends(get_actor)]
