"""The set of services one app instance owns, built by the composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property

from loguru import logger

from appliance.errors import ApplianceError
from appliance.services.auth import AuthService
from appliance.services.cameras import CameraService
from appliance.services.detection import DetectionService
from appliance.services.event_archive import EventArchive
from appliance.services.event_recording import EventRecording
from appliance.services.events import EventBus
from appliance.services.jobs import JobService
from appliance.services.metrics import Metrics
from appliance.services.model_specs import ModelSpec, ServiceState
from appliance.services.models import ModelService
from appliance.services.mqtt_bridge import MqttBridge
from appliance.services.recorder import DetectionRecorder
from appliance.services.scene import SceneService
from appliance.services.serving import ServingService
from appliance.services.telemetry import TelemetryService


@dataclass(frozen=True)
class UploadLimits:
    max_body_bytes: int
    max_model_bytes: int = 512 * 2**20


@dataclass(frozen=True)
class Services:
    serving: ServingService
    detection: DetectionService
    recorder: DetectionRecorder
    uploads: UploadLimits
    cameras: CameraService
    events: EventBus
    metrics: Metrics
    telemetry: TelemetryService
    models: ModelService
    model_specs: tuple[ModelSpec, ...] = ()
    # engine builds; a set built by hand (tests) gets one that refuses builds
    jobs: JobService = field(default_factory=JobService.without_builds)
    # tokens, scopes, signed URLs; a set built by hand (tests) gets one with auth off
    auth: AuthService = field(default_factory=AuthService.disabled)
    # stored events; a set built by hand (tests) may go without
    archive: EventArchive | None = None
    mqtt: MqttBridge | None = None  # None: APPLIANCE_MQTT_URL unset
    # DeepStack's route answers a request without api_key (NVRs with no field for one)
    deepstack_keyless: bool = False

    @property
    def recording(self) -> EventRecording | None:
        return self.cameras.recording

    @cached_property
    def scene(self) -> SceneService:
        """Lines and zones of the cameras."""
        return SceneService(self.cameras)

    def open_stores(self) -> None:
        """Open what the API reads from disk before the first request (blocking; quick)."""
        if self.recording is not None:
            self.recording.open()

    async def start(self) -> None:
        """Start sampling the device, load the models, then start the cameras using them."""
        await self.telemetry.start()
        await self.models.start(list(self.model_specs))  # before ready: /v1/models lists them
        names, default = await asyncio.to_thread(self.serving.saved)
        specs = await asyncio.to_thread(self.models.saved_specs, names, default)
        self.serving.restore(specs, default)
        await self.serving.start()
        if self.serving.readiness.state is not ServiceState.READY:
            logger.error("cameras not started: the models did not load")
            return
        try:
            await self.cameras.start()
        except ApplianceError as exc:
            logger.error("cameras not started: {}", exc.message)

    def close(self) -> None:
        self.jobs.close()  # a build in progress stops at its next step
        self.cameras.close()  # the pipeline: capture, inference workers, streams, events
        if self.recording is not None:
            self.recording.close_store()  # after the last event was handed to it
        if self.mqtt is not None:
            self.mqtt.close()  # the last events are out; `offline`, then disconnect
        self.detection.close()  # decodes queued by requests still in flight
        self.serving.close()  # then the engines nothing calls any more
        self.telemetry.close()
