"""/v1/cameras: list, create, read, update, delete, start and stop cameras."""

from __future__ import annotations

import re

from fastapi import APIRouter, Response
from pydantic import Field

from appliance.api.deps import ActorDep, CamerasDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import CameraStatusOut, MotionStatusOut, Percentiles, Schema
from appliance.auth.audit import audited
from appliance.config import CAMERA_ID, CameraConfig, EventsConfig, Lines, MotionConfig, Zones
from appliance.services.cameras import CameraView

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])
_ERRORS = error_responses(404, 409, 422)


class CameraOut(CameraConfig):
    status: CameraStatusOut

    @classmethod
    def of(cls, view: CameraView) -> CameraOut:
        c = view.capture
        status = CameraStatusOut(
            state=c.state.value,
            fps_in=c.fps_in,
            fps_out=view.fps_out,
            frame_age_s=c.frame_age_s,
            frames=c.frames,
            reconnects=c.reconnects,
            last_error=c.last_error,
            inference_error=view.inference_error,
            viewers=view.viewers,
            jpeg_encodes=view.jpeg_encodes,
            stages={name: Percentiles(**p) for name, p in view.stages.items()},
            motion=MotionStatusOut.of(view.gate) if view.gate is not None else None,
        )
        return cls(**view.config.model_dump(), status=status)


class CameraCreate(CameraConfig):
    id: str | None = Field(None, pattern=CAMERA_ID, description="Derived from the name if empty.")  # type: ignore[assignment]


class CameraPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=80)
    uri: str | None = Field(None, min_length=1, max_length=2048)
    enabled: bool | None = None
    model: str | None = None
    fps_limit: float | None = Field(None, gt=0, le=120)
    conf: float | None = Field(None, ge=0, le=1)
    classes: list[str] | None = None
    width: int | None = Field(None, ge=16, le=7680)
    height: int | None = Field(None, ge=16, le=4320)
    capture_fps: float | None = Field(None, gt=0, le=240)
    fourcc: str | None = Field(None, pattern=r"^[A-Z0-9]{4}$")
    tracking: bool | None = None
    lines: Lines | None = None
    zones: Zones | None = None
    events: EventsConfig | None = None
    motion: MotionConfig | None = None


class CameraList(Schema):
    cameras: list[CameraOut]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "camera"


@router.get("", response_model=CameraList, summary="All cameras with their state")
async def list_cameras(cameras: CamerasDep) -> CameraList:
    return CameraList(cameras=[CameraOut.of(view) for view in cameras.list()])


@router.post(
    "", response_model=CameraOut, status_code=201, responses=_ERRORS, summary="Add a camera"
)
async def create_camera(body: CameraCreate, cameras: CamerasDep, actor: ActorDep) -> CameraOut:
    camera_id = body.id or _slug(body.name)
    with audited("camera.add", actor, target=camera_id):
        config = CameraConfig(**{**body.model_dump(), "id": camera_id})
        return CameraOut.of(await cameras.create(config))


@router.get("/{camera_id}", response_model=CameraOut, responses=_ERRORS, summary="One camera")
async def get_camera(camera_id: str, cameras: CamerasDep) -> CameraOut:
    return CameraOut.of(cameras.get(camera_id))


@router.patch(
    "/{camera_id}", response_model=CameraOut, responses=_ERRORS, summary="Change a camera"
)
async def update_camera(camera_id: str, body: CameraPatch, cameras: CamerasDep) -> CameraOut:
    changes = body.model_dump(exclude_unset=True)
    return CameraOut.of(await cameras.update(camera_id, changes))


@router.delete("/{camera_id}", status_code=204, responses=_ERRORS, summary="Remove a camera")
async def delete_camera(camera_id: str, cameras: CamerasDep, actor: ActorDep) -> Response:
    with audited("camera.remove", actor, target=camera_id):
        await cameras.delete(camera_id)
    return Response(status_code=204)


@router.post("/{camera_id}/start", response_model=CameraOut, responses=_ERRORS)
async def start_camera(camera_id: str, cameras: CamerasDep) -> CameraOut:
    return CameraOut.of(await cameras.set_enabled(camera_id, True))


@router.post("/{camera_id}/stop", response_model=CameraOut, responses=_ERRORS)
async def stop_camera(camera_id: str, cameras: CamerasDep) -> CameraOut:
    return CameraOut.of(await cameras.set_enabled(camera_id, False))
