"""A constant-velocity Kalman filter over boxes (centre, width, height), batched over tracks.

The state is (cx, cy, w, h, vcx, vcy, vw, vh) in pixels and pixels per second, so one filter
serves a camera whose frame rate varies: each prediction takes the real time step. The noise
figures are ByteTrack's (fractions of the box size per frame at 30 fps, after DeepSORT),
converted to seconds; the process noise grows linearly with the time step (white-noise
acceleration), so a skipped frame widens the uncertainty as two frames would.
"""

from __future__ import annotations

import numpy as np

REFERENCE_DT = 1 / 30  # the frame time ByteTrack's noise weights were tuned at
POSITION_NOISE = 1 / 20  # std of a measured or predicted position, as a fraction of the box size
VELOCITY_NOISE = 1 / 160  # std of the velocity change per reference frame, same fraction


def to_state(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes x1, y1, x2, y2 -> (N, 4) measurements cx, cy, w, h."""
    size = boxes[:, 2:] - boxes[:, :2]
    return np.hstack([boxes[:, :2] + size / 2, size])


def to_boxes(means: np.ndarray) -> np.ndarray:
    """(N, 8) states -> (N, 4) boxes x1, y1, x2, y2."""
    half = means[:, 2:4] / 2
    return np.hstack([means[:, :2] - half, means[:, :2] + half])


def _scale(sizes: np.ndarray) -> np.ndarray:
    """(N, 4) per-component size: widths for the x components, heights for the y ones."""
    return np.abs(sizes[:, [0, 1, 0, 1]])


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States for new tracks at `boxes` (N, 4), at rest, velocity very uncertain."""
    measured = to_state(boxes)
    scale = _scale(measured[:, 2:])
    std = np.hstack([2 * POSITION_NOISE * scale, 10 * VELOCITY_NOISE / REFERENCE_DT * scale])
    means = np.hstack([measured, np.zeros_like(measured)])
    return means, _diagonal(std**2)


def predict(means: np.ndarray, covs: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """The states `dt` seconds later (dt <= 0 leaves them as they are)."""
    if dt <= 0 or len(means) == 0:
        return means, covs
    motion = np.eye(8)
    motion[:4, 4:] = dt * np.eye(4)
    scale = _scale(means[:, 2:4])
    std = np.hstack([POSITION_NOISE * scale, VELOCITY_NOISE / REFERENCE_DT * scale])
    noise = _diagonal(std**2 * (dt / REFERENCE_DT))
    return means @ motion.T, motion @ covs @ motion.T + noise


def update(means: np.ndarray, covs: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The states corrected by one measured box each (N, 4)."""
    measured = to_state(boxes)
    innovation_cov = covs[:, :4, :4] + _diagonal((POSITION_NOISE * _scale(measured[:, 2:])) ** 2)
    # K = P Hᵀ S⁻¹ (S symmetric): solve S Kᵀ = H P; the filter observes (cx, cy, w, h)
    gain = np.linalg.solve(innovation_cov, covs[:, :4, :]).transpose(0, 2, 1)
    residual = measured - means[:, :4]
    means = means + np.einsum("nij,nj->ni", gain, residual)
    covs = covs - gain @ covs[:, :4, :]  # (I - K H) P
    return means, covs


def _diagonal(values: np.ndarray) -> np.ndarray:
    """(N, K) -> (N, K, K) diagonal matrices."""
    out = np.zeros((*values.shape, values.shape[1]))
    index = np.arange(values.shape[1])
    out[:, index, index] = values
    return out
