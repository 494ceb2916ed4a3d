"""Tells systemd how the service is doing: READY once serving, STATUS, and WATCHDOG pings
only while the event loop and every worker thread make progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loguru import logger

from appliance.services.container import Services
from appliance.services.detection import ServiceState
from appliance.systemd import SystemdNotifier

HANG_AFTER_S = 30.0  # well past every read/open timeout: a thread this quiet is stuck


class Supervisor:
    def __init__(
        self, notifier: SystemdNotifier, services: Services, *, hang_after_s: float = HANG_AFTER_S
    ) -> None:
        self._notifier = notifier
        self._services = services
        self._hang_after_s = hang_after_s
        self._status = ""

    async def run(self, serving: Callable[[], bool]) -> None:
        """READY=1 once `serving()` (the socket is bound) and the models are loaded, then
        watchdog pings and status updates until cancelled."""
        readiness = self._services.detection.readiness
        while not serving() or readiness.state is ServiceState.LOADING:
            await asyncio.sleep(0.05)
        self._status = self._describe([])
        self._notifier.ready(self._status)
        interval = self._notifier.watchdog_interval_s or 5.0
        while True:
            await asyncio.sleep(min(interval, 5.0))
            hung = self._services.cameras.hung_workers(self._hang_after_s)
            if hung:
                logger.error("no watchdog ping: {} made no progress", ", ".join(hung))
            elif self._notifier.watchdog_interval_s is not None:
                self._notifier.watchdog()
            self._update_status(hung)

    def _describe(self, hung: list[str]) -> str:
        readiness = self._services.detection.readiness
        if readiness.state is ServiceState.FAILED:
            return f"degraded: models failed to load: {readiness.error}"
        cameras = self._services.cameras.list()
        streaming = sum(1 for c in cameras if c.capture.state.value == "streaming")
        models = len(readiness.models)
        text = f"serving {models} model(s), {streaming}/{len(cameras)} camera(s) streaming"
        return text + (f"; hung: {', '.join(hung)}" if hung else "")

    def _update_status(self, hung: list[str]) -> None:
        status = self._describe(hung)
        if status != self._status:
            self._status = status
            self._notifier.status(status)
