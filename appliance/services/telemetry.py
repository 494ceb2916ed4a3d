"""Device telemetry as a service: a sampler thread, a bounded history, warnings as events."""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from loguru import logger

from appliance import __version__
from appliance.services.events import EventBus
from appliance.telemetry import HealthWarning, Reading, Sample, TelemetrySource, derive_warnings
from appliance.telemetry import merge as merge_readings
from appliance.telemetry.jtop_source import JtopSource
from appliance.telemetry.nvml_source import NvmlSource
from appliance.telemetry.psutil_source import PsutilSource
from appliance.telemetry.versions import Versions, collect


class SourceState(str, enum.Enum):
    PENDING = "pending"  # not tried yet
    ACTIVE = "active"
    UNAVAILABLE = "unavailable"  # open() failed: no driver, no jtop.service, not installed
    FAILING = "failing"  # opened, then a sample failed: closed and retried later


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    state: SourceState
    reason: str | None
    attempts: int  # times opened or tried
    failures: int  # failed opens and samples since it last worked


@dataclass(frozen=True, slots=True)
class ActiveWarning:
    code: str
    message: str
    since: float  # Unix time it started


class _Slot:
    """One source and its state. Only the sampler thread calls open/read/close; `status` is
    read from request handlers, so it is a frozen value swapped in one assignment."""

    def __init__(self, source: TelemetrySource) -> None:
        self.source = source
        self.status = SourceStatus(source.name, SourceState.PENDING, None, 0, 0)
        self._open = False
        self._retry_at = 0.0

    def open_if_due(self, now: float) -> None:
        if self._open or now < self._retry_at:
            return
        attempts = self.status.attempts + 1
        try:
            self.source.open()
        except Exception as exc:  # any backend error: the source is retried, never fatal
            self._failed(SourceState.UNAVAILABLE, exc, now, attempts)
            return
        self._open = True
        if self.status.state is SourceState.FAILING:  # failing until a sample works again
            self.status = replace(self.status, attempts=attempts)
        else:
            logger.info("telemetry source {} active", self.source.name)
            self.status = SourceStatus(self.source.name, SourceState.ACTIVE, None, attempts, 0)

    def read(self, now: float) -> Reading | None:
        if not self._open:
            return None
        try:
            reading = self.source.sample()
        except Exception as exc:
            self.close()
            self._failed(SourceState.FAILING, exc, now, self.status.attempts)
            return None
        if self.status.state is not SourceState.ACTIVE:
            logger.info("telemetry source {} works again", self.source.name)
            self.status = SourceStatus(
                self.source.name, SourceState.ACTIVE, None, self.status.attempts, 0
            )
        return reading

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self.source.close()
        except Exception as exc:
            logger.debug("telemetry source {} close failed: {}", self.source.name, exc)

    def _failed(self, state: SourceState, exc: Exception, now: float, attempts: int) -> None:
        """Log a new state or reason once; the same failure on each retry only at debug."""
        reason = str(exc) or type(exc).__name__
        previous = self.status
        if (previous.state, previous.reason) != (state, reason):
            level = "WARNING" if previous.state is SourceState.ACTIVE else "INFO"
            logger.log(
                level,
                "telemetry source {} {}: {} (retry every {:g} s)",
                self.source.name,
                state.value,
                reason,
                self.source.retry_after_s,
            )
        else:
            logger.debug("telemetry source {} still {}: {}", self.source.name, state.value, reason)
        self.status = SourceStatus(self.source.name, state, reason, attempts, previous.failures + 1)
        self._retry_at = now + self.source.retry_after_s


class TelemetryService:
    """Samples every source once per `interval_s` on its own thread (jtop, NVML and sysfs
    reads may block, the event loop never does) and keeps `history_s` of samples.

    A warning is published as `system.warning` when it starts and `system.warning_cleared`
    once it has been absent for `clear_after_s`, so a value hovering at a threshold does not
    flood WS /v1/events."""

    def __init__(
        self,
        events: EventBus,
        sources: Sequence[TelemetrySource] | None = None,
        interval_s: float = 1.0,
        history_s: float = 600.0,
        clear_after_s: float = 10.0,
    ) -> None:
        self._events = events
        self._slots = [_Slot(s) for s in (default_sources() if sources is None else sources)]
        self.interval_s = interval_s
        self._clear_after_s = clear_after_s
        self._history: deque[Sample] = deque(maxlen=max(1, round(history_s / interval_s)))
        self._active: dict[str, tuple[ActiveWarning, float]] = {}  # code → (warning, seen)
        self._lock = threading.Lock()
        self._versions: Versions | None = None
        self._versions_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the sampler thread and returns at once; sources open on that thread."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()

    def close(self) -> None:
        """Stop sampling and close every source (blocking: run it off the event loop)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    # --- queries ---------------------------------------------------------------------------

    @property
    def history_limit(self) -> int:
        return self._history.maxlen or 0

    def snapshot(self) -> Sample | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self, seconds: float | None = None, max_points: int | None = None) -> list[Sample]:
        """Oldest first. Counted in samples, not wall time: a Jetson without an RTC battery
        jumps its clock when NTP syncs. Thinned evenly to `max_points`, keeping the newest."""
        with self._lock:
            samples = list(self._history)
        if seconds is not None:
            count = min(len(samples), math.ceil(seconds / self.interval_s))
            samples = samples[len(samples) - count :]
        if max_points is not None and len(samples) > max_points:
            step = math.ceil(len(samples) / max_points)
            samples = samples[::-1][::step][::-1]
        return samples

    def warnings(self) -> list[ActiveWarning]:
        with self._lock:
            return [warning for warning, _ in self._active.values()]

    def sources(self) -> list[SourceStatus]:
        return [slot.status for slot in self._slots]

    def versions(self) -> Versions:
        """Collected once (may run dpkg-query or import TensorRT): call it off the event loop."""
        with self._versions_lock:
            if self._versions is None:
                self._versions = collect(__version__)
            return self._versions

    # --- the sampler thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._open_due()
            next_at = time.monotonic() + self.interval_s
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                self._tick()
                next_at = max(next_at + self.interval_s, time.monotonic())
        except Exception:  # a bug here must not end telemetry silently
            logger.exception("telemetry sampler stopped")
        finally:
            for slot in self._slots:
                slot.close()

    def _open_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            slot.open_if_due(now)

    def _tick(self) -> None:
        self._open_due()
        now = time.monotonic()
        readings = [r for r in (slot.read(now) for slot in self._slots) if r is not None]
        sample = merge_readings(time.time(), readings)
        with self._lock:
            self._history.append(sample)
        self._track_warnings(sample, derive_warnings(sample), now)
        if self._versions is None:  # after the first sample, so /v1/system has one at once
            self._collect_versions()

    def _collect_versions(self) -> None:
        try:
            self.versions()
        except Exception:
            logger.exception("version collection failed")
            self._versions = Versions(package=__version__, python="")

    def _track_warnings(self, sample: Sample, found: list[HealthWarning], now: float) -> None:
        started: list[ActiveWarning] = []
        cleared: list[ActiveWarning] = []
        with self._lock:
            for warning in found:
                previous = self._active.get(warning.code)
                since = previous[0].since if previous else sample.timestamp
                active = ActiveWarning(warning.code, warning.message, since)
                self._active[warning.code] = (active, now)
                if previous is None:
                    started.append(active)
            present = {w.code for w in found}
            for code, (active, seen) in list(self._active.items()):
                if code not in present and now - seen >= self._clear_after_s:
                    del self._active[code]
                    cleared.append(active)
        for active in started:
            logger.warning("system warning {}: {}", active.code, active.message)
            self._events.publish(
                "system.warning", code=active.code, message=active.message, since=active.since
            )
        for active in cleared:
            logger.info("system warning {} cleared", active.code)
            self._events.publish("system.warning_cleared", code=active.code, since=active.since)


def default_sources() -> list[TelemetrySource]:
    """In order of preference: a field comes from the first source that reads it."""
    return [JtopSource(), NvmlSource(), PsutilSource()]
