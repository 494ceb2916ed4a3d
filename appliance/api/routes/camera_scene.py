"""/v1/cameras/{id}/lines and /zones: counting lines and occupancy zones of a camera."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field

from appliance.api.deps import SceneDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema
from appliance.config import SLUG, LineConfig, ZoneConfig
from appliance.services.scene import LineView, ZoneView

router = APIRouter(prefix="/v1/cameras/{camera_id}", tags=["lines and zones"])
_ERRORS = error_responses(404, 422)
Name = Annotated[str, Path(pattern=SLUG, description="A slug: a-z, 0-9, - and _.")]
Counts = dict[str, int]


class LineOut(LineConfig):
    name: str
    counts: dict[str, Counts] = Field(
        description='Crossings since made or reset: {"in": {label: n}, "out": {label: n}}.'
    )

    @classmethod
    def of(cls, view: LineView) -> LineOut:
        return cls(name=view.name, counts=view.counts, **view.config.model_dump())


class ZoneOut(ZoneConfig):
    name: str
    occupancy: Counts = Field(description="Tracked objects inside now, by label.")
    entered: Counts = Field(description="Tracked objects that entered since made or reset.")

    @classmethod
    def of(cls, view: ZoneView) -> ZoneOut:
        return cls(
            name=view.name,
            occupancy=view.occupancy,
            entered=view.entered,
            **view.config.model_dump(),
        )


class LineList(Schema):
    lines: list[LineOut]


class ZoneList(Schema):
    zones: list[ZoneOut]


@router.get("/lines", response_model=LineList, responses=_ERRORS, summary="A camera's lines")
async def list_lines(camera_id: str, scene: SceneDep) -> LineList:
    return LineList(lines=[LineOut.of(view) for view in scene.lines(camera_id)])


@router.get("/lines/{name}", response_model=LineOut, responses=_ERRORS, summary="One line")
async def get_line(camera_id: str, name: Name, scene: SceneDep) -> LineOut:
    return LineOut.of(scene.line(camera_id, name))


@router.put(
    "/lines/{name}", response_model=LineOut, responses=_ERRORS, summary="Draw or move a line"
)
async def put_line(camera_id: str, name: Name, body: LineConfig, scene: SceneDep) -> LineOut:
    return LineOut.of(await scene.put_line(camera_id, name, body))


@router.delete("/lines/{name}", status_code=204, responses=_ERRORS, summary="Remove a line")
async def delete_line(camera_id: str, name: Name, scene: SceneDep) -> Response:
    await scene.delete_line(camera_id, name)
    return Response(status_code=204)


@router.post(
    "/lines/{name}/reset", response_model=LineOut, responses=_ERRORS, summary="Zero its counts"
)
async def reset_line(camera_id: str, name: Name, scene: SceneDep) -> LineOut:
    return LineOut.of(scene.reset_line(camera_id, name))


@router.get("/zones", response_model=ZoneList, responses=_ERRORS, summary="A camera's zones")
async def list_zones(camera_id: str, scene: SceneDep) -> ZoneList:
    return ZoneList(zones=[ZoneOut.of(view) for view in scene.zones(camera_id)])


@router.get("/zones/{name}", response_model=ZoneOut, responses=_ERRORS, summary="One zone")
async def get_zone(camera_id: str, name: Name, scene: SceneDep) -> ZoneOut:
    return ZoneOut.of(scene.zone(camera_id, name))


@router.put(
    "/zones/{name}", response_model=ZoneOut, responses=_ERRORS, summary="Draw or move a zone"
)
async def put_zone(camera_id: str, name: Name, body: ZoneConfig, scene: SceneDep) -> ZoneOut:
    return ZoneOut.of(await scene.put_zone(camera_id, name, body))


@router.delete("/zones/{name}", status_code=204, responses=_ERRORS, summary="Remove a zone")
async def delete_zone(camera_id: str, name: Name, scene: SceneDep) -> Response:
    await scene.delete_zone(camera_id, name)
    return Response(status_code=204)


@router.post(
    "/zones/{name}/reset", response_model=ZoneOut, responses=_ERRORS, summary="Zero `entered`"
)
async def reset_zone(camera_id: str, name: Name, scene: SceneDep) -> ZoneOut:
    return ZoneOut.of(scene.reset_zone(camera_id, name))
