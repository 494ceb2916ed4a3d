"""Composition root: builds the services and the FastAPI app that serves them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from loguru import logger

from appliance import __version__
from appliance.api import auth as access
from appliance.api.auth import guard
from appliance.api.credentials import CredentialsMiddleware
from appliance.api.docs import install_docs
from appliance.api.errors import install_error_handlers
from appliance.api.fallback import install_api_fallback
from appliance.api.limits import ApiLimits, BodyLimitMiddleware
from appliance.api.middleware import RequestContextMiddleware
from appliance.api.routes import (
    camera_scene,
    camera_streams,
    cameras,
    deepstack,
    detect,
    detect_ws,
    events,
    health,
    jobs,
    login_links,
    metrics,
    models,
    sessions,
    system,
    v2,
)
from appliance.auth.client_address import TrustedProxies
from appliance.auth.throttle import Throttle, ThrottlePolicy
from appliance.config import ConfigStore
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.openvino import OpenVinoConfig
from appliance.events.retention import RetentionPolicy
from appliance.models.builds import EngineBuilder
from appliance.models.engine_cache import EngineCache
from appliance.models.engine_select import EngineSelector
from appliance.models.repository import ModelRepository
from appliance.mqtt.client import MqttPublisher
from appliance.pipeline.camera import CaptureTiming
from appliance.pipeline.runtime import Pipeline
from appliance.secret import load_or_create_secret
from appliance.services.auth import AuthService
from appliance.services.auth_guard import AuthGuard
from appliance.services.calibration import CalibrationFrames
from appliance.services.camera_views import CameraLimits, CameraReporter
from appliance.services.cameras import CameraService
from appliance.services.container import Services, UploadLimits
from appliance.services.detection import DetectionService
from appliance.services.event_archive import EventArchive
from appliance.services.event_recording import EventRecording
from appliance.services.events import EventBus
from appliance.services.jobs import JobService
from appliance.services.metrics import Metrics
from appliance.services.model_specs import ImageLimits, ModelSpec
from appliance.services.models import ModelService
from appliance.services.mqtt_bridge import MqttBridge, device_info
from appliance.services.recorder import DetectionRecorder
from appliance.services.scene import SceneService
from appliance.services.scene_metrics import SceneCollector
from appliance.services.serving import ServingService
from appliance.services.telemetry import TelemetryService
from appliance.settings import Settings

WEBSOCKET_DOC = """
**WebSocket `/v1/detect/ws`** (query: `model`, `conf`, `iou`, `classes`, `max_det`): send each
frame as one binary JPEG/PNG/WebP message. Each processed frame is answered with the
`DetectResponse` JSON plus `seq` (the frame's number, from 1) and `dropped` (frames skipped so
far because a newer one arrived first). A bad frame is answered with the error body plus `seq`;
the socket stays open.
"""


def build_services(settings: Settings) -> Services:
    config = OnnxRuntimeConfig(
        providers=tuple(settings.providers),
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
        spinning=settings.ort_spinning,
        cache_dir=settings.data_dir / "cache" / "onnxruntime",
    )
    openvino = OpenVinoConfig(
        device=settings.openvino_device,
        threads=settings.intra_op_threads,
        cache_dir=settings.data_dir / "cache" / "openvino",
    )
    engine_cache = EngineCache(settings.data_dir / "cache" / "engines")
    events = EventBus()
    metrics = Metrics()
    store = ConfigStore(settings.data_dir / "config.json")
    timing = CaptureTiming(
        stall_after_s=settings.stall_after_s, reconnect_after_s=settings.reconnect_after_s
    )
    reporter = CameraReporter(events)
    pipeline = Pipeline(
        timing=timing,
        max_viewers=settings.max_viewers_per_camera,
        on_stages=metrics.observe_stages,
        on_state=reporter.state_changed,
        on_error=reporter.error_changed,
    )
    specs = [ModelSpec.parse(text) for text in settings.models]
    selector = EngineSelector(config, settings.engine, engine_cache, openvino=openvino)
    serving = ServingService(specs, config, pipeline, store, selector)
    detection = DetectionService(
        serving,
        ImageLimits(max_pixels=settings.max_image_pixels, max_batch=settings.max_batch_images),
    )
    recording = EventRecording(settings.data_dir / "events", events)
    cameras = CameraService(
        store,
        serving,
        pipeline,
        events,
        recording=recording,
        timing=timing,
        limits=CameraLimits(
            max_cameras=settings.max_cameras,
            max_viewers=settings.max_viewers_per_camera,
            media_roots=tuple(settings.media_roots),
        ),
    )
    metrics.watch_cameras(cameras.list)
    telemetry = TelemetryService(
        events, interval_s=settings.telemetry_interval_s, history_s=settings.telemetry_history_s
    )
    metrics.watch_telemetry(telemetry.snapshot)
    repository = ModelRepository(settings.data_dir / "models")
    builder = EngineBuilder(
        engine_cache,
        config,
        settings.data_dir / "cache" / "tensorrt",
        openvino=openvino,
        min_agreement=settings.int8_min_agreement,
    )
    job_service = JobService(
        repository,
        builder,
        events,
        on_finished=metrics.observe_job,
        frames=CalibrationFrames(pipeline).supplier,
    )
    metrics.watch_jobs(job_service.counts)
    models = ModelService(
        repository,
        serving,
        cameras,
        events,
        config,
        on_swap=metrics.observe_swap,
    )
    services = Services(
        serving=serving,
        detection=detection,
        recorder=DetectionRecorder(on_results=metrics.observe_results),
        uploads=UploadLimits(
            max_body_bytes=settings.max_upload_bytes, max_model_bytes=settings.max_model_bytes
        ),
        cameras=cameras,
        events=events,
        metrics=metrics,
        telemetry=telemetry,
        models=models,
        model_specs=tuple(specs),
        jobs=job_service,
        auth=AuthService(
            settings.data_dir,
            enabled=settings.auth,
            login_link_ttl_s=settings.login_link_ttl_s,
            guard=_auth_guard(settings, metrics),
            session_ttl_s=settings.session_ttl_s,
        ),
        archive=EventArchive(recording, _retention(settings, cameras)),
        mqtt=_mqtt_bridge(settings, cameras),
        deepstack_keyless=settings.deepstack_keyless,
    )
    if services.mqtt is not None:
        recording.add_listener(services.mqtt)
    metrics.watch(SceneCollector(services.scene.all))
    return services


def _auth_guard(settings: Settings, metrics: Metrics) -> AuthGuard:
    """Lockouts per client address after failed authentication (README, Throttling)."""
    policy = ThrottlePolicy(
        max_failures=settings.auth_max_failures, lockout_s=settings.auth_lockout_s
    )
    return AuthGuard(
        Throttle(policy),
        TrustedProxies.parse(settings.trusted_proxies),
        on_failure=metrics.observe_auth_failure,
        on_lockout=metrics.observe_auth_lockout,
    )


def _mqtt_bridge(settings: Settings, cameras: CameraService) -> MqttBridge | None:
    """MQTT when APPLIANCE_MQTT_URL is set (validated with the settings)."""
    if settings.mqtt_url is None:
        return None
    publisher = MqttPublisher.from_url(
        settings.mqtt_url.get_secret_value(),
        device_info(settings.data_dir, settings.device_name),
        prefix=settings.mqtt_prefix,
        discovery_prefix=settings.mqtt_discovery_prefix,
    )
    return MqttBridge(publisher, cameras, SceneService(cameras))


def _retention(settings: Settings, cameras: CameraService) -> Callable[[], RetentionPolicy]:
    """The limits as they stand now: cameras' retain_days change while the service runs."""

    def policy() -> RetentionPolicy:
        days = {c.config.id: c.config.events.retain_days for c in cameras.list()}
        return RetentionPolicy(
            days,
            max_bytes=int(settings.events_max_gb * 1e9),
            min_free_bytes=int(settings.events_min_free_gb * 1e9),
        )

    return policy


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app with its own services. Models load in the background after start-up, so
    /healthz answers at once and /readyz once every model is loaded and warm."""
    settings = settings or Settings()
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        for leftover in services.models.repository.recover():  # a killed writer's debris
            logger.warning("removed {} (left by an interrupted write)", leftover)
        services.auth.start()  # first start: the initial admin token
        await asyncio.to_thread(services.open_stores)
        tasks = [
            asyncio.create_task(services.start(), name="start-services"),
            asyncio.create_task(services.cameras.watch_stalls(), name="watch-stalls"),
            asyncio.create_task(services.cameras.scene.keep_saved(), name="save-counts"),
        ]
        if services.archive is not None:
            tasks.append(asyncio.create_task(services.archive.keep_tidy(), name="tidy-events"))
        if services.mqtt is not None:
            tasks.append(asyncio.create_task(services.mqtt.run(), name="mqtt"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(services.close)

    app = FastAPI(
        title="Edge inference appliance",
        version=__version__,
        summary="Object detection on local cameras and uploaded images",
        description=WEBSOCKET_DOC,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.limits = ApiLimits(
        max_concurrent_detects=settings.max_concurrent_detects,
        max_ws_message_bytes=settings.max_ws_message_bytes,
        max_ws_fps=settings.max_ws_fps,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_json_kb * 1024)
    app.add_middleware(CredentialsMiddleware)  # inside the request context: ids, access log
    app.add_middleware(
        RequestContextMiddleware,
        on_response=services.metrics.observe_request,
        client_address=services.auth.guard.client_address,
    )
    install_error_handlers(app)
    install_docs(app)
    on = settings.auth  # who may call what: README, Authentication
    app.include_router(health.router)
    app.include_router(detect.router, **guard(access.OPERATOR, on))
    app.include_router(detect_ws.router, **guard(access.OPERATOR, on))
    app.include_router(deepstack.router)  # operator: checks its own api_key (body)
    app.include_router(cameras.router, **guard(access.OPERATOR_WRITES, on))
    app.include_router(camera_streams.router, **guard(access.VIEWER, on))
    app.include_router(camera_scene.router, **guard(access.OPERATOR_WRITES, on))
    app.include_router(events.router, **guard(access.OPERATOR_WRITES, on))
    app.include_router(metrics.router, **guard(access.VIEWER, on and not settings.metrics_public))
    app.include_router(models.router, **guard(access.ADMIN_WRITES, on))
    app.include_router(jobs.router, **guard(access.ADMIN_WRITES, on))
    app.include_router(system.router, **guard(access.VIEWER, on))
    app.include_router(login_links.router, **guard(access.VIEWER, on))  # any token, for itself
    app.include_router(sessions.router)  # the dashboard's sign-in form: open, it gives a cookie
    app.include_router(v2.router, **guard(access.V2_ACCESS, on))
    install_api_fallback(app)
    if settings.dashboard:
        _mount_dashboard(app, services, settings)
    return app


def _mount_dashboard(app: FastAPI, services: Services, settings: Settings) -> None:
    """Mounted last, at /: API routes come first. Imported here so an API-only process
    (APPLIANCE_DASHBOARD=0) never loads NiceGUI."""
    from ui.dashboard import setup_dashboard

    setup_dashboard(
        app,
        services,
        device_name=settings.device_name,
        storage_secret=load_or_create_secret(settings.data_dir / "dashboard.secret"),
        upload_dir=str(settings.data_dir / "models" / ".uploads"),
        storage_dir=settings.data_dir / "dashboard",
    )
