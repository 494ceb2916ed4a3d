"""A client's stream of frames over a WebSocket: only the newest unprocessed frame waits."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.domain import DetectionResult, DetectParams
from appliance.errors import ApplianceError, InvalidInputError
from appliance.pipeline.latest import AsyncLatestSlot
from appliance.services.detection import DetectionService


@dataclass(frozen=True)
class StreamReply:
    """The answer to one frame: its result, or the error that frame caused."""

    seq: int
    dropped: int
    result: DetectionResult | None = None
    error: ApplianceError | None = None


class DetectStream:
    """Frames are numbered as they arrive (from 1). A frame still waiting when a newer one
    arrives is dropped and counted, so a fast sender never builds a queue; so is a frame
    the caller skips (over the client's rate)."""

    def __init__(self, service: DetectionService, params: DetectParams, model: str | None):
        self._service = service
        self._params = params
        self._model = model
        self._slot: AsyncLatestSlot[tuple[int, bytes]] = AsyncLatestSlot()
        self._received = 0
        self._skipped = 0

    @property
    def dropped(self) -> int:
        return self._slot.dropped + self._skipped

    def skip(self) -> int:
        """Count a frame that arrived too fast as dropped without decoding it."""
        self._received += 1
        self._skipped += 1
        return self._received

    def offer(self, frame: bytes) -> int:
        self._received += 1
        self._slot.put((self._received, frame))
        return self._received

    def reject(self, error: InvalidInputError) -> StreamReply:
        """A reply for a message that was not a frame at all; it still gets a number."""
        self._received += 1
        return StreamReply(self._received, self.dropped, error=error)

    async def next_reply(self) -> StreamReply:
        seq, frame = await self._slot.take()
        try:
            results = await self._service.detect([frame], self._params, self._model)
        except ApplianceError as exc:
            return StreamReply(seq, self.dropped, error=exc)
        return StreamReply(seq, self.dropped, result=results[0])
