"""Per-frame stages after inference: each camera runs an ordered list of them.

A stage takes a processed frame with its detections and returns it, possibly enriched
(tracks, zones, counts) or reduced (filters). Stages run on the camera's inference worker
thread, between postprocessing and the broadcaster, so they must be quick: slow work (clip
encoding, database writes, MQTT) belongs on a thread of its own behind a bounded queue. A
stage is per camera and may keep state (a tracker); one that raises puts only its camera in
an error state with the reason.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from appliance.domain import ProcessedFrame


@runtime_checkable
class Stage(Protocol):
    """One step of a camera's per-frame processing after inference."""

    name: str

    def __call__(self, processed: ProcessedFrame) -> ProcessedFrame: ...


@runtime_checkable
class CarryingStage(Protocol):
    """A stage that also wants the frames the motion gate did not infer (a clip recorder
    needs every frame; a tracker must not see old boxes again)."""

    name: str

    def carry(self, processed: ProcessedFrame) -> None: ...


class StageError(Exception):
    """A stage raised: which one, and why, for the camera's error state."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.message = f"stage {stage} failed: {type(cause).__name__}: {cause}"
        super().__init__(self.message)


def run_stages(stages: Sequence[Stage], processed: ProcessedFrame) -> ProcessedFrame:
    """Run `stages` in order; their total time is recorded as the `stages_ms` latency."""
    if not stages:
        return processed
    start = time.perf_counter()
    for stage in stages:
        try:
            processed = stage(processed)
        except Exception as exc:
            raise StageError(stage.name, exc) from exc
    elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
    return dataclasses.replace(
        processed, stages_ms={**processed.stages_ms, "stages_ms": elapsed_ms}
    )


def carry_stages(stages: Sequence[Stage], carried: ProcessedFrame) -> None:
    """Hand a carried frame to the stages that take them, in order."""
    for stage in stages:
        if isinstance(stage, CarryingStage):
            try:
                stage.carry(carried)
            except Exception as exc:
                raise StageError(stage.name, exc) from exc


@dataclasses.dataclass(frozen=True)
class DetectionFilter:
    """Keeps the detections a camera asked for: at least `conf`, of the `classes` (ids; None:
    all). The engine decodes at a lower floor, so later stages (a tracker) can see the
    weaker boxes before this one drops them."""

    conf: float = 0.25
    classes: frozenset[int] | None = None
    name: str = "filter"

    def __call__(self, processed: ProcessedFrame) -> ProcessedFrame:
        found = processed.result.detections
        kept = tuple(
            d
            for d in found
            if d.confidence >= self.conf and (self.classes is None or d.class_id in self.classes)
        )
        if len(kept) == len(found):
            return processed
        result = dataclasses.replace(processed.result, detections=kept)
        return dataclasses.replace(processed, result=result)
