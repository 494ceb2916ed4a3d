"""The one thread that calls an engine."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class EngineThread:
    """Runs engine calls one at a time, in order, on a daemon thread of its own (unlike a
    ThreadPoolExecutor's, an engine that hangs cannot hold up the process's exit)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[T], R], argument: T) -> Future[R]:
        answer: Future[R] = Future()
        self._jobs.put((answer, call, argument))
        return answer

    def close(self, timeout: float = 30.0) -> None:
        """End the thread after the calls already queued, and wait for them (an engine is
        closed after this: nothing may still be running on it)."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            answer, call, argument = job
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(call(argument))
                except BaseException as exc:  # the caller decides what a failure means
                    answer.set_exception(exc)
