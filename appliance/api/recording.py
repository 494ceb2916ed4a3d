"""Recording a detect request's results (counters, one log line) once its answer is sent."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import BackgroundTasks

from appliance.domain import DetectionResult
from appliance.services.recorder import DetectionRecorder


def record_after_answer(
    background: BackgroundTasks,
    recorder: DetectionRecorder,
    source: str,
    results: Sequence[DetectionResult],
) -> None:
    """On the event loop, after the answer: too little work to pay the thread-pool hop that
    a sync background task costs."""

    async def record() -> None:
        recorder.record(source, results)

    background.add_task(record)
