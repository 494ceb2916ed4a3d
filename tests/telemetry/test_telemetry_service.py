"""TelemetryService with a real EventBus, real psutil, and scripted sources for the edge cases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import pytest
from loguru import logger
from scripted_sources import BrokenSource, ScriptedSource
from test_telemetry_sources import nvml_driver_present

from appliance.services.events import EventBus
from appliance.services.telemetry import SourceState, TelemetryService
from appliance.telemetry import Reading, TelemetrySource
from appliance.telemetry.nvml_source import NvmlSource
from appliance.telemetry.psutil_source import PsutilSource

pytestmark = pytest.mark.anyio
NORMAL = Reading(cpu_percent=(10.0,), memory_used_mb=1000.0, memory_total_mb=8000.0)
HOT = Reading(cpu_percent=(10.0,), temperatures={"Tj": 95.0})


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.01)


class Running:
    """A started service that the test closes, whatever happens."""

    def __init__(self, sources: Sequence[TelemetrySource], **options: float) -> None:
        self.events = EventBus()
        self.service = TelemetryService(self.events, sources, **options)

    async def __aenter__(self) -> TelemetryService:
        await self.service.start()
        return self.service

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.service.close)


@pytest.fixture
async def log_lines() -> AsyncIterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    yield lines
    logger.remove(sink)


async def test_history_grows_and_is_bounded() -> None:
    async with Running([PsutilSource()], interval_s=0.02, history_s=0.1) as service:
        assert service.history_limit == 5
        await eventually(lambda: len(service.history()) == 5)
        newest = service.snapshot()
        await eventually(lambda: service.snapshot() is not newest)
        history = service.history()
        assert len(history) == 5
        assert [s.timestamp for s in history] == sorted(s.timestamp for s in history)
        latest = service.snapshot()
        assert latest is not None and latest.timestamp >= history[-1].timestamp
        assert history[-1].memory_total_mb is not None and history[-1].memory_total_mb > 0
        assert len(service.history(seconds=0.04)) == 2
        thinned = service.history(max_points=2)  # the newest is always kept
        assert len(thinned) == 2 and thinned[-1].timestamp >= history[-1].timestamp
        (status,) = service.sources()
        assert (status.name, status.state) == ("psutil", SourceState.ACTIVE)


async def test_a_broken_source_does_not_stop_the_others(log_lines: list[str]) -> None:
    broken, scripted = BrokenSource(), ScriptedSource(NORMAL)
    async with Running([broken, scripted, PsutilSource()], interval_s=0.02) as service:
        await eventually(lambda: broken.opened >= 3)  # retried after each failure
        snapshot = service.snapshot()
        assert snapshot is not None and snapshot.memory_total_mb == 8000.0  # scripted wins
        states = {s.name: s for s in service.sources()}
        assert states["broken"].state is SourceState.FAILING
        assert states["broken"].reason == "sensor bus error"
        assert states["broken"].failures >= 3
        assert states["scripted"].state is SourceState.ACTIVE
        assert states["psutil"].state is SourceState.ACTIVE
    assert broken.closed == broken.opened  # each failed source was closed before a retry
    assert scripted.closed == 1
    assert sum("broken" in line for line in log_lines) == 2  # "active", then "failing" once


async def test_nvml_without_a_driver_is_retried_quietly(log_lines: list[str]) -> None:
    if nvml_driver_present():
        pytest.skip("an NVIDIA driver is installed here")
    async with Running([NvmlSource(retry_after_s=0.05), PsutilSource()], interval_s=0.02) as s:
        await eventually(lambda: s.sources()[0].attempts >= 4)
        nvml, psutil = s.sources()
        assert nvml.state is SourceState.UNAVAILABLE
        assert nvml.reason == "NVML: NVML Shared Library Not Found"
        assert psutil.state is SourceState.ACTIVE
        assert s.snapshot() is not None
    assert sum("nvml" in line for line in log_lines) == 1


async def test_warnings_start_and_clear_once_each() -> None:
    scripted = ScriptedSource(HOT)
    runner = Running([scripted], interval_s=0.02, clear_after_s=0.1)
    async with runner.events.subscribe() as queue, runner as service:
        await eventually(lambda: len(service.warnings()) == 1)
        await anyio.sleep(0.1)  # several more hot samples
        (warning,) = service.warnings()
        assert warning.code == "thermal_throttling" and "Tj 95 °C" in warning.message
        with anyio.fail_after(2):
            event = await queue.get()  # delivered to WS subscribers from the sampler thread
        assert (event["type"], event["code"]) == ("system.warning", "thermal_throttling")

        scripted.set(NORMAL)
        await eventually(lambda: not service.warnings())
        await anyio.sleep(0.1)
    kinds = [e["type"] for e in runner.events.recent()]
    assert kinds == ["system.warning", "system.warning_cleared"]
    assert runner.events.recent()[1]["code"] == "thermal_throttling"


async def test_a_brief_dip_below_the_threshold_does_not_clear() -> None:
    scripted = ScriptedSource(HOT)
    runner = Running([scripted], interval_s=0.02, clear_after_s=1.0)
    async with runner as service:
        await eventually(lambda: len(service.warnings()) == 1)
        scripted.set(NORMAL)
        await anyio.sleep(0.1)
        scripted.set(HOT)
        await anyio.sleep(0.1)
        assert len(service.warnings()) == 1
    assert [e["type"] for e in runner.events.recent()] == ["system.warning"]


async def test_start_twice_and_close_twice() -> None:
    scripted = ScriptedSource(NORMAL)
    service = TelemetryService(EventBus(), [scripted], interval_s=0.02)
    service.close()  # before start: nothing to do
    service = TelemetryService(EventBus(), [scripted], interval_s=0.02)
    await service.start()
    await service.start()
    await eventually(lambda: service.snapshot() is not None)
    service.close()
    service.close()
    assert (scripted.opened, scripted.closed) == (1, 1)
    await service.start()  # closed for good: does not restart
    assert service.sources()[0].attempts == 1
