"""Job states and the moves between them, and TensorRT's build phases as one fraction."""

from __future__ import annotations

import json

import pytest

from appliance.engines.tensorrt_build import PhaseProgress
from appliance.errors import ConflictError
from appliance.services.job_state import (
    FINISHED,
    Job,
    JobState,
    advance,
    as_event,
    move,
    request_cancel,
)

QUEUED = Job("j1", "demo", "v1", "onnxruntime", "fp32", 8, created=100.0)


def test_a_job_runs_then_succeeds_with_its_times() -> None:
    running = move(QUEUED, JobState.RUNNING, 101.0)
    assert running.started == 101.0 and running.seconds is None
    done = move(running, JobState.SUCCEEDED, 103.5, artifact="/x/model.onnx")
    assert (done.state, done.progress, done.seconds, done.artifact) == (
        JobState.SUCCEEDED,
        1.0,
        2.5,
        "/x/model.onnx",
    )


@pytest.mark.parametrize("finished", sorted(FINISHED, key=lambda s: s.value))
def test_finished_jobs_never_move_again(finished: JobState) -> None:
    done = move(move(QUEUED, JobState.RUNNING, 1.0), finished, 2.0)
    for state in JobState:
        with pytest.raises(ConflictError):
            move(done, state, 3.0)


def test_a_queued_job_cannot_succeed_without_running() -> None:
    with pytest.raises(ConflictError, match="queued"):
        move(QUEUED, JobState.SUCCEEDED, 1.0)


def test_progress_only_moves_forward_and_reaches_one_on_success() -> None:
    running = move(QUEUED, JobState.RUNNING, 1.0)
    assert advance(QUEUED, 0.5, "x") is QUEUED  # not running: unchanged
    later = advance(running, 0.6, "building")
    assert advance(later, 0.3, "late report").progress == 0.6
    assert advance(later, 7.0, "overshoot").progress == 0.99
    assert move(later, JobState.SUCCEEDED, 2.0).progress == 1.0


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one() -> None:
    cancelled = request_cancel(QUEUED, 5.0)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished == 5.0
    running = request_cancel(move(QUEUED, JobState.RUNNING, 1.0), 2.0)
    assert running.state is JobState.RUNNING and running.cancel_requested
    with pytest.raises(ConflictError, match="cancelled"):
        request_cancel(cancelled, 6.0)


def test_events_are_plain_json() -> None:
    event = as_event(move(QUEUED, JobState.RUNNING, 1.0))
    assert json.loads(json.dumps(event))["state"] == "running"
    assert event["kind"] == "onnxruntime" and event["seconds"] is None


def test_same_build_compares_what_was_asked_not_the_id() -> None:
    again = Job("j2", "demo", "v1", "onnxruntime", "fp32", 8, created=200.0)
    assert QUEUED.same_build(again)
    other = Job("j3", "demo", "v1", "onnxruntime", "fp32", 4, created=200.0)
    assert not QUEUED.same_build(other)


def test_tensorrt_phases_make_one_rising_fraction() -> None:
    progress = PhaseProgress()
    seen = [progress.fraction()]
    for top in range(3):
        progress.start(f"phase {top}", None, 2)
        for step in range(2):
            progress.start("tactics", f"phase {top}", 4)
            for inner in range(4):
                progress.step("tactics", inner)
                seen.append(progress.fraction(expected_top=3))
            progress.finish("tactics")
            progress.step(f"phase {top}", step)
            seen.append(progress.fraction(expected_top=3))
        progress.finish(f"phase {top}")
    assert seen == sorted(seen) and seen[0] == 0.0 and 0.9 < seen[-1] <= 0.99
    progress.step("unknown phase", 3)  # TensorRT may report a phase it never started
