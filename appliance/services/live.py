"""What viewers of a camera get: plain frames, through one viewer API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.domain import DetectionResult, Region
from appliance.pipeline.viewers import EncodedFrame, Watch


@dataclass(frozen=True, slots=True, eq=False)
class LiveFrame:
    """One processed frame of a camera as a viewer gets it: plain values."""

    camera_id: str
    frame_id: int
    captured_at: float  # Unix time
    latency_ms: float  # from capture to encoded (to processed for a detections-only viewer)
    jpeg: bytes | None  # None for a detections-only viewer
    result: DetectionResult
    stages_ms: dict[str, float]
    carried: bool = False  # not inferred: the boxes are the last inferred frame's
    motion: tuple[Region, ...] | None = None  # where it moved; None: the gate is off

    @classmethod
    def of(cls, encoded: EncodedFrame) -> LiveFrame:
        frame = encoded.processed.frame
        return cls(
            camera_id=frame.camera_id,
            frame_id=frame.frame_id,
            captured_at=frame.captured_at,
            latency_ms=round((encoded.encoded_mono - frame.captured_mono) * 1000, 3),
            jpeg=encoded.jpeg,
            result=encoded.processed.result,
            stages_ms=encoded.processed.stages_ms,
            carried=encoded.processed.carried,
            motion=None if frame.motion is None else frame.motion.regions,
        )


class LiveViewer:
    """An admitted viewer of one camera (admitted when made: TooManyViewersError when the
    camera is full). Iterate it for frames; it gives its place back however it ends:
    `async with`, `close()`, or the camera going away (the iteration then stops)."""

    def __init__(self, watch: Watch) -> None:
        self._watch = watch
        self._last: LiveFrame | None = None

    @property
    def ended(self) -> bool:
        return self._watch.ended

    def close(self) -> None:
        self._watch.close()

    async def __aenter__(self) -> LiveViewer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> LiveViewer:
        return self

    async def __anext__(self) -> LiveFrame:
        encoded = await self._watch.__anext__()
        self._last = LiveFrame.of(encoded)
        return self._last

    async def next(self, timeout: float) -> LiveFrame | None:
        """The next frame, or None after `timeout` or once ended."""
        encoded = await self._watch.next(timeout)
        self._last = None if encoded is None else LiveFrame.of(encoded)
        return self._last

    def message(self, render: Callable[[LiveFrame], str]) -> str:
        """`render` of the last frame, computed once per frame however many viewers ask."""
        last = self._last
        assert last is not None
        return self._watch.message(lambda _processed: render(last))
