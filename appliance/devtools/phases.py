"""A clip of still and moving phases, for the motion gate's tests and benchmark: an empty,
still scene for `still_s`, then the trajectory scene's people and cat (real photos) walking
for `moving_s`, on a loop. The file camera loops it, so the phases alternate forever."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from appliance.devtools.clip import write_mjpg
from appliance.devtools.trajectories import TrajectoryScene


@dataclass(frozen=True)
class PhaseClip:
    path: Path
    fps: float
    still_frames: int
    moving_frames: int

    @property
    def loop_frames(self) -> int:
        return self.still_frames + self.moving_frames

    def moving(self, frame_id: int) -> bool:
        """Whether the camera's frame `frame_id` (1, 2, … over the loops) is in a moving
        phase."""
        return (frame_id - 1) % self.loop_frames >= self.still_frames

    def phase(self, frame_id: int) -> int:
        """Which phase the frame is in: 0, 1, 2, … (even: still, odd: moving)."""
        loop, into = divmod(frame_id - 1, self.loop_frames)
        return 2 * loop + (into >= self.still_frames)


def write_phase_clip(
    path: Path, still_s: float = 30.0, moving_s: float = 30.0, fps: float = 15.0
) -> PhaseClip:
    """1280x720 MJPG .avi: still first, then moving (the people walk at ~230 px/s)."""
    walking = TrajectoryScene.load(0, fps)
    empty = TrajectoryScene((), {}, 1.0, fps).render(0)
    still, moving = round(still_s * fps), round(moving_s * fps)
    walks = (walking.render(index % walking.frames) for index in range(moving))
    write_mjpg(path, itertools.chain(itertools.repeat(empty, still), walks), fps)
    return PhaseClip(path, fps, still, moving)
