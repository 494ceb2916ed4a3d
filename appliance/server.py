"""Running the app under uvicorn, with the appliance's own shutdown behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import FrameType

import uvicorn

from appliance import __version__
from appliance.app import create_app
from appliance.settings import Settings


class ApplianceServer(uvicorn.Server):
    """Ends live streams as soon as shutdown begins: uvicorn waits for open responses
    before it runs the app's shutdown, and an MJPEG stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler interrupts the loop's thread anywhere, perhaps inside a lock that
        # on_exit needs: run it as an ordinary loop callback instead.
        try:
            asyncio.get_running_loop().call_soon_threadsafe(self._on_exit)
        except RuntimeError:
            self._on_exit()
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> None:
    """Build the app and serve it until SIGINT/SIGTERM."""
    app = create_app(settings)
    shown = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    url = f"http://{shown}:{settings.port}"
    print(f"appliance {__version__}: {url}/docs  (data in {settings.data_dir})", flush=True)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # our middleware writes one line per request, with its id
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        ws_max_size=settings.max_upload_bytes,
        server_header=False,
    )
    ApplianceServer(config, on_exit=app.state.services.cameras.end_streams).run()
