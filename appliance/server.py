"""Running the app under uvicorn, with the appliance's own shutdown behaviour."""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import cv2
import uvicorn
from loguru import logger

from appliance import __version__
from appliance.app import create_app
from appliance.memory import trim_periodically, tune_malloc
from appliance.services.container import Services
from appliance.services.supervision import Supervisor
from appliance.settings import Settings
from appliance.systemd import SystemdNotifier


class ApplianceServer(uvicorn.Server):
    """uvicorn plus what the appliance needs around it: systemd is told READY once the socket
    is bound and the models are warm, and pinged while every worker makes progress; on a
    signal, systemd hears STOPPING and live streams end at once (uvicorn waits for open
    responses before it runs the app's shutdown, and an MJPEG stream never ends by itself)."""

    def __init__(self, config: uvicorn.Config, services: Services, notifier: SystemdNotifier):
        super().__init__(config)
        self._services = services
        self._notifier = notifier
        self._supervisor: asyncio.Task[None] | None = None
        self._trimmer: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        supervisor = Supervisor(self._notifier, self._services)
        self._supervisor = asyncio.create_task(supervisor.run(lambda: self.started))
        self._trimmer = asyncio.create_task(trim_periodically())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for task in (self._supervisor, self._trimmer):
            if task is not None:
                task.cancel()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler interrupts the loop's thread anywhere, perhaps inside a lock that
        # the callbacks need: run them as ordinary loop callbacks instead.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._begin_exit()
        else:
            loop.call_soon_threadsafe(self._begin_exit)
        super().handle_exit(sig, frame)

    def _begin_exit(self) -> None:
        self._notifier.stopping()
        self._services.cameras.end_streams()


def limit_opencv_threads(threads: int) -> None:
    """OpenCV's own worker pool (one thread per core, for resizes, colour conversions and
    JPEG decoding) spin-waits between calls: with a thread per camera already, it adds
    CPU (3 % of a core per idle 720p camera, measured) and takes cores from the engine."""
    if threads:
        cv2.setNumThreads(threads)


def serve(settings: Settings) -> None:
    """Build the app and serve it until SIGINT/SIGTERM."""
    tune_malloc()
    limit_opencv_threads(settings.opencv_threads)
    app = create_app(settings)
    host = settings.bind_host
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    scheme = "https" if settings.tls_cert is not None else "http"
    url = f"{scheme}://{shown}:{settings.port}"
    print(f"appliance {__version__}: {url}/docs  (data in {settings.data_dir})", flush=True)
    if not settings.auth and host not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("authentication is off and {} is not loopback: the LAN can use it", host)
    config = uvicorn.Config(
        app,
        host=host,
        port=settings.port,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        log_config=None,
        access_log=False,  # our middleware writes one line per request, with its id
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        ws_max_size=settings.max_ws_message_bytes,  # larger: closed with 1009 by uvicorn
        # JPEGs don't deflate, and compressing per connection would cost CPU per viewer for
        # bytes that were meant to be encoded once and sent as they are to everyone
        ws_per_message_deflate=False,
        server_header=False,
    )
    notifier = SystemdNotifier.from_environment()
    try:
        ApplianceServer(config, app.state.services, notifier).run()
    finally:
        notifier.close()
