"""Event snapshots written on a thread of their own, off the cameras' frame path."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger


class SnapshotWriter:
    """One thread writing snapshots; a newer frame for an event replaces a queued one, so
    a burst of objects costs at most one pending snapshot each."""

    def __init__(self, write: Callable[[str, Any], None]) -> None:
        self._write = write
        self._pending: dict[str, Any] = {}
        self._busy: str | None = None
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="event-snapshots", daemon=True)
        self._thread.start()

    def offer(self, event_id: str, job: Any) -> None:
        with self._wake:
            self._pending[event_id] = job
            self._wake.notify()

    def pending(self, event_id: str) -> bool:
        """A snapshot of the event is still to be written (by another thread than the
        caller: the writer itself, finishing one, is done with it)."""
        with self._wake:
            if event_id in self._pending:
                return True
            return self._busy == event_id and threading.current_thread() is not self._thread

    def cancel(self, event_id: str) -> None:
        with self._wake:
            self._pending.pop(event_id, None)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                event_id = next(iter(self._pending))
                job = self._pending.pop(event_id)
                self._busy = event_id
            try:
                self._write(event_id, job)
            except Exception as exc:  # a full disk: this snapshot is lost, not the thread
                logger.error("snapshot of event {} not written: {}", event_id, exc)
            finally:
                with self._wake:
                    self._busy = None
