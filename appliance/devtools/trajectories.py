"""A clip with known trajectories: two people who cross (one passes in front of the other) and
a cat, walking straight lines back and forth, with the ground-truth box of each in each frame.

The photos are the demo scene's (the astronaut twice, once mirrored, and chelsea the cat),
270-340 px tall on 720 so that the demo model (YOLOv3-tiny at 416x416) finds them. A truth box
is the part of the photo where the demo model finds its object (EXTENT, measured on the photo
alone), not the whole print. Each actor goes from `start` to `end` and back once per loop,
so the clip loops without a jump, and the two people cross twice per loop. Seed 0 is the
canonical set of paths; other seeds move their ends, sizes and speed, for a second opinion.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from appliance.sources.demo_scene import load_asset

# Where the demo model's box lies inside each photo (fractions x1, y1, x2, y2 of the print).
EXTENT = {"astronaut.jpg": (0.06, 0.02, 0.87, 1.0), "chelsea.jpg": (0.0, 0.0, 0.9, 1.0)}
COCO = {"person": 0, "cat": 15}
_TOP, _BOTTOM = np.array((64, 44, 38), np.float32), np.array((156, 132, 118), np.float32)
_BORDER = 4


@dataclass(frozen=True, slots=True)
class TruthBox:
    """Where one object is in one frame; `visibility`: the share of it not hidden by others."""

    object_id: int
    label: str
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    visibility: float = 1.0


@dataclass(frozen=True)
class Actor:
    """A photo whose centre goes from `start` to `end` (pixels) and back, once per loop."""

    object_id: int
    label: str
    asset: str
    height: int
    start: tuple[float, float]
    end: tuple[float, float]
    mirrored: bool = False

    def centre(self, phase: float) -> tuple[float, float]:
        """Where the centre is at `phase` (0-1) of the loop: out in the first half, back after."""
        f = 1 - abs(1 - 2 * (phase % 1.0))
        (x0, y0), (x1, y1) = self.start, self.end
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0)


@dataclass(frozen=True)
class ClipTruth:
    """A clip's ground truth: per frame, the objects front to back; `path` once written."""

    fps: float
    size: tuple[int, int]
    frames: tuple[tuple[TruthBox, ...], ...]
    crossings: tuple[int, ...]  # frames at which the two people's centres pass each other
    path: Path | None = None


def actors(seed: int = 0) -> tuple[Actor, ...]:
    """Back to front: person 1 (behind at the crossing), person 2, the cat passing below."""
    cast = (
        Actor(1, "person", "astronaut.jpg", 300, (190.0, 215.0), (1090.0, 290.0)),
        Actor(2, "person", "astronaut.jpg", 340, (1090.0, 330.0), (190.0, 270.0), mirrored=True),
        Actor(3, "cat", "chelsea.jpg", 270, (1010.0, 585.0), (330.0, 585.0)),
    )
    if seed == 0:
        return cast
    rng = np.random.default_rng(seed)
    return tuple(
        Actor(
            a.object_id,
            a.label,
            a.asset,
            a.height + int(rng.integers(-20, 21)),
            (a.start[0] + rng.uniform(-60, 60), a.start[1] + rng.uniform(-25, 25)),
            (a.end[0] + rng.uniform(-60, 60), a.end[1] + rng.uniform(-25, 25)),
            a.mirrored,
        )
        for a in cast
    )


class TrajectoryScene:
    """Renders frame `index` of the loop and says where each actor's object is in it."""

    def __init__(
        self, cast: tuple[Actor, ...], photos: dict[str, np.ndarray], loop_s: float, fps: float
    ) -> None:
        self.cast, self.fps = cast, fps
        self.frames = round(loop_s * fps)
        self._prints = {a.object_id: _print(photos[a.asset], a) for a in cast}
        self._background = _gradient(1280, 720)

    @classmethod
    def load(cls, seed: int = 0, fps: float = 15.0) -> TrajectoryScene:
        """Seed 0: an 8 s loop (people at ~230 px/s); other seeds: 7-10 s, paths moved."""
        loop_s = 8.0 if seed == 0 else float(np.random.default_rng(seed + 1000).uniform(7, 10))
        cast = actors(seed)
        return cls(cast, {a.asset: load_asset(a.asset) for a in cast}, loop_s, fps)

    def places(self, index: int) -> list[tuple[Actor, tuple[int, int, int, int]]]:
        """Each actor's print rectangle (x, y, w, h) in frame `index`, back to front."""
        out = []
        for actor in self.cast:
            h, w = self._prints[actor.object_id].shape[:2]
            cx, cy = actor.centre(index / self.frames)
            out.append((actor, (round(cx - w / 2), round(cy - h / 2), w, h)))
        return out

    def render(self, index: int) -> np.ndarray:
        canvas = self._background.copy()
        for actor, (x, y, w, h) in self.places(index):
            area = canvas[max(y, 0) : y + h, max(x, 0) : x + w]
            photo = self._prints[actor.object_id][max(-y, 0) :, max(-x, 0) :]
            area[:] = photo[: area.shape[0], : area.shape[1]]
        return canvas

    def truth(self, index: int) -> tuple[TruthBox, ...]:
        """The objects in frame `index`, front to back, each with the share of it in sight."""
        placed = self.places(index)
        boxes = []
        for i, (actor, (x, y, w, h)) in enumerate(placed):
            fx1, fy1, fx2, fy2 = _extent(actor)
            inner = (x + _BORDER + fx1 * (w - 2 * _BORDER), y + _BORDER + fy1 * (h - 2 * _BORDER))
            outer = (x + _BORDER + fx2 * (w - 2 * _BORDER), y + _BORDER + fy2 * (h - 2 * _BORDER))
            box = (*inner, *outer)
            covers = [(px, py, px + pw, py + ph) for _, (px, py, pw, ph) in placed[i + 1 :]]
            label = actor.label
            seen = _visible(box, covers)
            boxes.append(TruthBox(actor.object_id, label, COCO[label], *box, visibility=seen))
        return tuple(reversed(boxes))

    def crossings(self) -> tuple[int, ...]:
        """Frames at which person 1's centre passes person 2's (left to right or back)."""
        people = [a for a in self.cast if a.label == "person"]

        def side(index: int) -> bool:
            a, b = (p.centre(index / self.frames)[0] for p in people)
            return a < b

        return tuple(i for i in range(1, self.frames) if side(i) != side(i - 1))

    def ground_truth(self) -> ClipTruth:
        """Every frame's truth, without rendering a pixel (for tests of trackers)."""
        frames = tuple(self.truth(i) for i in range(self.frames))
        return ClipTruth(self.fps, (1280, 720), frames, self.crossings())


def write_trajectory_clip(path: Path, seed: int = 0, fps: float = 15.0) -> ClipTruth:
    """The scene's loop as a 1280x720 MJPG .avi (OpenCV reads it back), and its truth."""
    scene = TrajectoryScene.load(seed, fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (1280, 720))
    try:
        for index in range(scene.frames):
            writer.write(scene.render(index))
    finally:
        writer.release()
    return dataclasses.replace(scene.ground_truth(), path=path)


def _extent(actor: Actor) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = EXTENT[actor.asset]
    return (1 - x2, y1, 1 - x1, y2) if actor.mirrored else (x1, y1, x2, y2)


def _print(photo: np.ndarray, actor: Actor) -> np.ndarray:
    """The photo `actor.height` px tall (mirrored if asked) inside a white border."""
    inner = actor.height - 2 * _BORDER
    width = round(inner * photo.shape[1] / photo.shape[0])
    resized = cv2.resize(photo, (width, inner), interpolation=cv2.INTER_AREA)
    if actor.mirrored:
        resized = resized[:, ::-1]
    return cv2.copyMakeBorder(resized, *[_BORDER] * 4, cv2.BORDER_CONSTANT, value=(245,) * 3)


def _gradient(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to((1 - ramp) * _TOP + ramp * _BOTTOM, (height, width, 3)).astype(np.uint8)


def _visible(box: tuple[float, ...], covers: list[tuple[int, int, int, int]]) -> float:
    """The share of `box` that none of the rectangles `covers` hides."""
    x1, y1, x2, y2 = (round(v) for v in box)
    mask = np.ones((max(y2 - y1, 1), max(x2 - x1, 1)), bool)
    for cx1, cy1, cx2, cy2 in covers:
        mask[max(cy1 - y1, 0) : max(cy2 - y1, 0), max(cx1 - x1, 0) : max(cx2 - x1, 0)] = False
    return float(mask.mean())
