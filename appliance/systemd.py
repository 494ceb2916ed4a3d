"""systemd integration: sd_notify (READY, STATUS, WATCHDOG, STOPPING), a silent no-op elsewhere.

The notify protocol is one datagram per message to $NOTIFY_SOCKET, so it is spoken directly
here: no libsystemd build is needed on the device for the part that matters most.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from loguru import logger


class SystemdNotifier:
    """Talks to the service manager that started us, if any."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        address = environ.get("NOTIFY_SOCKET") or None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())  # the watchdog may be meant for a parent
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 and mine else None
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the watchdog timeout, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec and self.enabled else None

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        address = self._address
        if address.startswith("@"):  # an abstract socket name
            address = "\0" + address[1:]
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message.encode(), address)
        except OSError as exc:  # never let supervision plumbing take the service down
            logger.warning("sd_notify to {} failed: {}", self._address, exc)
