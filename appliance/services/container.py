"""The set of services one app instance owns, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from appliance.errors import ApplianceError
from appliance.services.cameras import CameraService
from appliance.services.detection import DetectionService, ServiceState
from appliance.services.events import EventBus
from appliance.services.metrics import Metrics
from appliance.services.recorder import DetectionRecorder
from appliance.services.telemetry import TelemetryService


@dataclass(frozen=True)
class UploadLimits:
    max_body_bytes: int


@dataclass(frozen=True)
class Services:
    detection: DetectionService
    recorder: DetectionRecorder
    uploads: UploadLimits
    cameras: CameraService
    events: EventBus
    metrics: Metrics
    telemetry: TelemetryService

    async def start(self) -> None:
        """Start sampling the device, load the models, then start the cameras using them."""
        await self.telemetry.start()
        await self.detection.start()
        if self.detection.readiness.state is not ServiceState.READY:
            logger.error("cameras not started: the models did not load")
            return
        try:
            await self.cameras.start()
        except ApplianceError as exc:
            logger.error("cameras not started: {}", exc.message)

    def close(self) -> None:
        self.cameras.close()
        self.detection.close()
        self.telemetry.close()
