"""What every frame source offers the capture worker, and the options it is opened with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class SourceOptions:
    """Capture settings; None leaves the choice to the device or file."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fourcc: str | None = None  # e.g. "MJPG": USB cameras deliver big frames faster compressed
    realtime: bool = True  # files and the demo paced at their frame rate; False: as fast as read
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0


@runtime_checkable
class FrameSource(Protocol):
    """A camera, stream or file, read by one capture thread.

    `read()` blocks for the next frame but returns or raises within about `read_timeout_s`;
    `close()` may come from another thread and then waits for a read in progress to end.
    """

    uri: str  # redacted: safe to show and log
    nominal_fps: float | None

    def open(self) -> None:
        """Start capturing; raises SourceError (the worker retries)."""
        ...

    def read(self) -> np.ndarray:
        """The next frame, BGR uint8 HxWx3; raises SourceError on failure or timeout."""
        ...

    def close(self) -> None:
        """Release the device; idempotent."""
        ...
