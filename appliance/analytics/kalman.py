"""A constant-velocity Kalman filter over boxes (centre, width, height), batched over tracks.

The state is (cx, cy, w, h, vcx, vcy, vw, vh) in pixels and pixels per second, so one filter
serves a camera whose frame rate varies: each prediction takes the real time step. The noise
figures are ByteTrack's (fractions of the box size per frame at 30 fps, after DeepSORT),
converted to seconds; the process noise grows linearly with the time step (white-noise
acceleration), so a skipped frame widens the uncertainty as two frames would.

With diagonal noises and a motion that couples each component only with its own velocity, the
8-dimensional filter is exactly four independent (position, velocity) filters, one per box
component. So a covariance is kept as (3, 4) per track: the variance of each component's
position, its covariance with the velocity, the variance of the velocity. Element-wise
arithmetic on those costs a fraction of 8x8 matrix products and solves.
"""

from __future__ import annotations

import numpy as np

REFERENCE_DT = 1 / 30  # the frame time ByteTrack's noise weights were tuned at
POSITION_NOISE = 1 / 20  # std of a measured or predicted position, as a fraction of the box size
VELOCITY_NOISE = 1 / 160  # std of the velocity change per reference frame, same fraction


def to_state(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes x1, y1, x2, y2 -> (N, 4) measurements cx, cy, w, h."""
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)


def to_boxes(means: np.ndarray) -> np.ndarray:
    """(N, 8) states -> (N, 4) boxes x1, y1, x2, y2."""
    half = means[:, 2:4] / 2
    return np.concatenate([means[:, :2] - half, means[:, :2] + half], 1)


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States for new tracks at `boxes` (N, 4), at rest, their velocity very uncertain."""
    measured = to_state(boxes)
    scale = _scale(measured)
    position = (2 * POSITION_NOISE * scale) ** 2
    velocity = (10 * VELOCITY_NOISE / REFERENCE_DT * scale) ** 2
    covs = np.stack([position, np.zeros_like(position), velocity], axis=1)
    return np.concatenate([measured, np.zeros_like(measured)], 1), covs


def predict(means: np.ndarray, covs: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """The states `dt` seconds later (dt <= 0 leaves them as they are)."""
    if dt <= 0 or len(means) == 0:
        return means, covs
    scale, steps = _scale(means), dt / REFERENCE_DT
    pp, pv, vv = covs[:, 0], covs[:, 1], covs[:, 2]
    moved = means.copy()
    moved[:, :4] += dt * means[:, 4:]
    covs = np.stack(
        [
            pp + 2 * dt * pv + dt * dt * vv + steps * (POSITION_NOISE * scale) ** 2,
            pv + dt * vv,
            vv + steps * (VELOCITY_NOISE / REFERENCE_DT * scale) ** 2,
        ],
        axis=1,
    )
    return moved, covs


def update(means: np.ndarray, covs: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The states corrected by one measured box each (N, 4)."""
    measured = to_state(boxes)
    pp, pv, vv = covs[:, 0], covs[:, 1], covs[:, 2]
    innovation = pp + (POSITION_NOISE * _scale(measured)) ** 2
    gain_p, gain_v = pp / innovation, pv / innovation
    residual = measured - means[:, :4]
    means = means + np.concatenate([gain_p * residual, gain_v * residual], 1)
    covs = np.stack([(1 - gain_p) * pp, (1 - gain_p) * pv, vv - gain_v * pv], axis=1)
    return means, covs


def _scale(state: np.ndarray) -> np.ndarray:
    """(N, 4) per-component size from states or measurements: widths for the x components,
    heights for the y ones."""
    return np.abs(state[:, [2, 3, 2, 3]])
