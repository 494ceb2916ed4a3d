"""A clip of visits: an empty scene, then a person walks across it, then empty again, on a
loop. Each visit is one object's life, so it is one event with a known start and end."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from appliance.devtools.clip import write_mjpg
from appliance.devtools.trajectories import Actor, TrajectoryScene
from appliance.sources.demo_scene import load_asset

WALKER = Actor(1, "person", "astronaut.jpg", 320, (330.0, 380.0), (950.0, 380.0))


@dataclass(frozen=True)
class VisitClip:
    """`visit_starts_s`..+`visit_s`: when in the loop someone is in view."""

    path: Path
    fps: float
    loop_s: float
    visit_start_s: float
    visit_s: float


def write_visit_clip(
    path: Path, fps: float = 15.0, empty_s: float = 4.0, visit_s: float = 4.0
) -> VisitClip:
    """1280x720 MJPG .avi: `empty_s` empty, a walk across of `visit_s`, `empty_s` empty."""
    # the walk is the first half of a loop twice its length: out, not back
    walk = TrajectoryScene((WALKER,), {WALKER.asset: load_asset(WALKER.asset)}, 2 * visit_s, fps)
    empty = TrajectoryScene((), {}, 1.0, fps).render(0)
    gap, steps = round(empty_s * fps), round(visit_s * fps)
    walking = (walk.render(index) for index in range(steps))
    frames = itertools.chain(itertools.repeat(empty, gap), walking, itertools.repeat(empty, gap))
    write_mjpg(path, frames, fps)
    return VisitClip(path, fps, (2 * gap + steps) / fps, gap / fps, steps / fps)
