"""The motion gate on a real file camera (a clip of still and moving phases made from the
test photos) and the real demo model: what is inferred in each phase, the first moving
frame inferred, carried frames marked and still delivered, masks that hide motion, and the
gate off giving every frame to the detector."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import numpy as np
import pytest

from appliance.analytics.motion import MotionDetector, MotionSettings
from appliance.devtools.phases import PhaseClip, write_phase_clip
from appliance.devtools.trajectories import TrajectoryScene
from appliance.domain import DetectParams, Motion, ProcessedFrame
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.models.demo import demo_model_path
from appliance.models.detector import Detector
from appliance.pipeline.camera_runtime import CameraPlan
from appliance.pipeline.feeds import FeedPlan
from appliance.pipeline.motion_gate import GatePlan, GateState, GateStats, due
from appliance.pipeline.runtime import Pipeline
from appliance.pipeline.stages import DetectionFilter
from appliance.sources import SourceOptions, open_source

STILL_S, MOVING_S, FPS = 3.0, 3.0, 15.0
IDLE_FPS = 0.5
EVERYTHING = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> PhaseClip:
    return write_phase_clip(tmp_path_factory.mktemp("phases") / "phases.avi", STILL_S, MOVING_S)


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    loaded = Detector.load("demo", demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    yield loaded
    loaded.close()


def run_camera(
    detector: Detector,
    clip: PhaseClip,
    gate: GatePlan | None,
    seconds: float,
    *,
    lossless: bool = False,
) -> list[ProcessedFrame]:
    """Every frame the camera's (detections-only) viewer got in `seconds` of the clip
    (`lossless`: read as fast as the worker takes frames, none skipped)."""
    pipeline = Pipeline()
    pipeline.add("cam")
    plan = CameraPlan(
        FeedPlan(DetectParams(conf=0.25), gate=gate), stages=(DetectionFilter(conf=0.25),)
    )
    source = lambda: open_source(f"file://{clip.path}", SourceOptions())  # noqa: E731
    pipeline.start("cam", source, detector, plan, lossless=lossless)

    async def collect() -> list[ProcessedFrame]:
        got: list[ProcessedFrame] = []
        deadline = time.monotonic() + seconds
        async with pipeline.watch("cam", None) as viewer:
            while time.monotonic() < deadline:
                encoded = await viewer.next(1.0)
                if encoded is not None:
                    got.append(encoded.processed)
        return got

    try:
        return asyncio.run(collect())
    finally:
        pipeline.close()


def by_phase(frames: list[ProcessedFrame], clip: PhaseClip) -> dict[int, list[ProcessedFrame]]:
    phases: dict[int, list[ProcessedFrame]] = {}
    for processed in frames:
        phases.setdefault(clip.phase(processed.frame.frame_id), []).append(processed)
    first, last = min(phases), max(phases)
    return {k: v for k, v in phases.items() if k not in (first, last)}  # whole phases only


@pytest.fixture(scope="module")
def gated(detector: Detector, clip: PhaseClip) -> list[ProcessedFrame]:
    gate = GatePlan(idle_fps=IDLE_FPS, tracked_fps=2.0)
    return run_camera(detector, clip, gate, seconds=3 * (STILL_S + MOVING_S) + 1)


def test_still_phases_are_inferred_at_the_idle_rate_and_the_rest_carried(
    gated: list[ProcessedFrame], clip: PhaseClip
) -> None:
    frames = gated
    still = [p for k, p in by_phase(frames, clip).items() if k % 2 == 0]
    assert still, "no whole still phase was seen"
    for phase in still:
        inferred = [p for p in phase if not p.carried]
        # the vanishing walkers move (a few frames until the background forgets them),
        # then one frame per 1/idle_fps s
        settled = [p for p in inferred if p.frame.frame_id - phase[0].frame.frame_id > 10]
        assert len(settled) <= IDLE_FPS * STILL_S + 1, [p.frame.frame_id for p in inferred]
        assert len(phase) >= 0.6 * STILL_S * FPS, "carried frames still reach the viewer"
        carried = [p for p in phase if p.carried]
        assert len(carried) >= 0.6 * len(phase)
        assert all(not p.result.detections for p in carried[-5:]), "nobody is there"


def test_moving_phases_are_inferred_from_their_first_frame(
    gated: list[ProcessedFrame], clip: PhaseClip
) -> None:
    frames = gated
    moving = [p for k, p in by_phase(frames, clip).items() if k % 2 == 1]
    assert moving, "no whole moving phase was seen"
    for phase in moving:
        first = phase[0]
        # the first moving frame, or (when an idle frame was on the engine as it came) the
        # next: at most one frame interval late
        assert (first.frame.frame_id - 1) % clip.loop_frames - clip.still_frames <= 1
        assert not first.carried, "the first moving frame goes to the detector"
        assert first.frame.motion is not None and first.frame.motion.moving
        assert first.result.detections, "and finds the walkers"
        inferred = [p for p in phase if not p.carried]
        assert len(inferred) >= 0.9 * len(phase)


def test_carried_frames_keep_the_last_boxes_and_say_so(
    gated: list[ProcessedFrame], clip: PhaseClip
) -> None:
    frames = gated
    for before, after in itertools.pairwise(frames):
        if after.carried:
            assert after.result is before.result or after.result.detections == (
                before.result.detections
            )
            assert after.stages_ms == {}
    ids = [p.frame.frame_id for p in frames]
    assert ids == sorted(ids), "inferred and carried frames arrive in order"


def test_a_mask_over_the_walkers_hides_their_motion(detector: Detector, clip: PhaseClip) -> None:
    settings = MotionSettings(masks=(EVERYTHING,))
    gate = GatePlan(idle_fps=IDLE_FPS, tracked_fps=1.0, settings=settings)
    frames = run_camera(detector, clip, gate, seconds=STILL_S + MOVING_S + 1)
    moving = [p for p in frames if clip.moving(p.frame.frame_id)]
    assert moving
    assert all(p.frame.motion is not None and not p.frame.motion.moving for p in frames)
    inferred = [p for p in moving if not p.carried]
    # without motion the walkers are found at the keep-alive rate, then followed at 1 fps
    assert len(inferred) <= MOVING_S * 1.0 + 2
    assert len(moving) - len(inferred) >= 0.5 * len(moving)


def test_with_the_gate_off_every_frame_is_inferred(detector: Detector, clip: PhaseClip) -> None:
    frames = run_camera(detector, clip, None, seconds=STILL_S + 1, lossless=True)
    ids = [p.frame.frame_id for p in frames]
    assert len(ids) >= 10 and ids == list(range(ids[0], ids[0] + len(ids))), "none skipped"
    assert not any(p.carried for p in frames)
    assert all(p.frame.motion is None for p in frames)


# --- the pieces alone ----------------------------------------------------------------------


def test_motion_detector_ignores_noise_and_finds_a_walker() -> None:
    rng = np.random.default_rng(1)
    empty = TrajectoryScene((), {}, 1.0, FPS).render(0)
    detector = MotionDetector(MotionSettings())
    for index in range(20):
        noisy = np.clip(empty + rng.normal(0, 4, empty.shape), 0, 255).astype(np.uint8)
        assert not detector.detect(noisy, index / FPS).moving
    walking = TrajectoryScene.load(0, FPS)
    motion = detector.detect(walking.render(0), 20 / FPS)
    assert motion.moving and not motion.lighting
    truth = walking.truth(0)
    for box in truth:  # every walker lies inside some region
        cx, cy = (box.x1 + box.x2) / 2 / 1280, (box.y1 + box.y2) / 2 / 720
        assert any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in motion.regions)


def test_a_lighting_change_is_not_motion() -> None:
    empty = TrajectoryScene((), {}, 1.0, FPS).render(0)
    detector = MotionDetector(MotionSettings())
    detector.detect(empty, 0.0)
    brighter = np.clip(empty.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    changed = detector.detect(brighter, 0.1)
    assert changed.lighting and not changed.moving
    assert not detector.detect(brighter, 0.2).moving, "the new light is the new background"


def test_the_gate_decides_by_motion_objects_in_view_and_time() -> None:
    plan = GatePlan(idle_fps=0.2, tracked_fps=2.0)
    state = GateState(last_inferred=100.0)
    still, moving = Motion(), Motion(regions=((0.1, 0.1, 0.2, 0.2),))
    assert due(plan, state, moving, 100.01), "motion: at once"
    assert due(plan, state, None, 100.01), "no motion analysis: every frame"
    assert not due(plan, state, still, 104.9)
    assert due(plan, state, still, 105.0), "idle: 1/idle_fps"
    state.finished(1, True, now=100.0)  # objects found
    assert not due(plan, state, still, 100.4)
    assert due(plan, state, still, 100.5), "objects in view: 1/tracked_fps"
    state.finished(2, False, now=100.5)  # none in the next: looked for a while longer
    assert due(plan, state, still, 101.9) and not due(plan, state, still, 102.1)


def test_gate_stats_count_motion_events_and_the_inferred_share() -> None:
    stats = GateStats(window_s=60.0)
    for second, moving in enumerate([False, True, True, False, True, False]):
        stats.motion(moving, now=float(second))
        stats.frame(inferred=moving, now=float(second))
    share, per_minute, now_moving = stats.summary(now=6.0)
    assert (share, per_minute, now_moving) == (0.5, 2.0, False)
    assert stats.summary(now=100.0)[:2] == (None, 0.0), "a minute later: forgotten"
    assert stats.motion_events_total == 2 and stats.inferred_total == 3
