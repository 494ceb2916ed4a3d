"""Running the app under uvicorn, with the appliance's own shutdown behaviour."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
from types import FrameType

import cv2
import uvicorn
from loguru import logger

from appliance import __version__
from appliance.app import create_app
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

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        supervisor = Supervisor(self._notifier, self._services)
        self._supervisor = asyncio.create_task(supervisor.run(lambda: self.started))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
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


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MALLOC_THRESHOLD = 128 * 1024  # glibc's own default, held fixed


def fix_malloc_thresholds() -> bool:
    """Hold glibc's mmap and trim thresholds at their defaults for the life of the process;
    True when set. Called once by `serve`, before anything is built (never at import).

    Why: glibc raises its mmap threshold to the size of each mmapped block freed (up to
    32 MB) and its trim threshold to twice that. After the first frame is freed, frames,
    tensors and previews (0.5-8 MB, made on one thread and freed on another) come from
    glibc's per-thread arenas instead, and an arena gives memory back only when more than
    the raised trim threshold lies free at its top. With ~25 threads over 16 arenas, each
    arena kept what its busiest moment needed: the soak's RSS grew ~95 MB in its first 10
    minutes, all of it free memory in the arenas (malloc_info; malloc_trim gave 110 MB
    back). Fixed thresholds keep such buffers in their own mmaps, unmapped when freed.
    An operator's own MALLOC_*_THRESHOLD_ or GLIBC_TUNABLES thresholds win."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    own = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    if any(name in os.environ for name in own) or "_threshold=" in tunables:
        return False
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):  # not glibc: another allocator, no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting it turns the dynamic adjustment off for both
    return bool(
        mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD)
    )


def limit_opencv_threads(threads: int) -> None:
    """OpenCV's own worker pool (one thread per core, for resizes, colour conversions and
    JPEG decoding) spin-waits between calls: with a thread per camera already, it adds
    CPU (3 % of a core per idle 720p camera, measured) and takes cores from the engine."""
    if threads:
        cv2.setNumThreads(threads)


def serve(settings: Settings) -> None:
    """Build the app and serve it until SIGINT/SIGTERM."""
    fix_malloc_thresholds()
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
