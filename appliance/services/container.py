"""The set of services one app instance owns, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.services.detection import DetectionService
from appliance.services.recorder import DetectionRecorder


@dataclass(frozen=True)
class UploadLimits:
    max_body_bytes: int


@dataclass(frozen=True)
class Services:
    detection: DetectionService
    recorder: DetectionRecorder
    uploads: UploadLimits

    async def start(self) -> None:
        await self.detection.start()

    def close(self) -> None:
        self.detection.close()
