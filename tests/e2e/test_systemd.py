"""systemd supervision against a real datagram socket standing in for systemd's NOTIFY_SOCKET:
READY only after the port answers, watchdog pings, STOPPING and a clean exit on SIGTERM, and no
pings once a worker hangs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import ROOT, free_port

from appliance.config import CameraConfig, ConfigStore, RuntimeConfig
from appliance.domain import CameraState
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.logging import journal_fields
from appliance.models.repository import ModelRepository
from appliance.pipeline.camera import CameraWorker
from appliance.pipeline.runtime import Pipeline
from appliance.services.cameras import CameraService
from appliance.services.container import Services, UploadLimits
from appliance.services.detection import DetectionService
from appliance.services.events import EventBus
from appliance.services.metrics import Metrics
from appliance.services.model_specs import ImageLimits, ModelSpec
from appliance.services.models import ModelService
from appliance.services.recorder import DetectionRecorder
from appliance.services.serving import ServingService
from appliance.services.supervision import Supervisor
from appliance.services.telemetry import TelemetryService
from appliance.systemd import SystemdNotifier


class NotifySocket:
    """What systemd listens on: a datagram socket; messages are kept with their arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def first(self, field: str) -> float | None:
        return next((t for t, m in self.messages if field in m.splitlines()), None)

    def count(self, field: str) -> int:
        return sum(1 for _, m in self.messages if field in m.splitlines())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_ready_watchdog_stopping_and_clean_exit(tmp_path: Path, notify: NotifySocket) -> None:
    """The real CLI under a NOTIFY_SOCKET with a 1 s watchdog, like `Type=notify` would run it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(json.dumps({"schema_version": 1, "cameras": []}))
    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    command = [
        sys.executable,
        "-m",
        "appliance",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    log = (tmp_path / "log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        answered = None
        deadline = time.monotonic() + 60
        while notify.first("READY=1") is None:
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            if answered is None:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    answered = time.monotonic()
                except httpx.TransportError:
                    pass
            time.sleep(0.02)
        ready_at = notify.first("READY=1")
        assert answered is not None and ready_at is not None and answered <= ready_at
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200  # models warm
        status = next(m for _, m in notify.messages if "READY=1" in m)
        assert "STATUS=serving 1 model(s)" in status

        time.sleep(2.2)
        assert notify.count("WATCHDOG=1") >= 3  # every 0.5 s: half the watchdog timeout

        process.send_signal(signal.SIGTERM)
        assert process.wait(15) in (0, -signal.SIGTERM)
        assert notify.first("STOPPING=1") is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert "Application shutdown complete" in (tmp_path / "log").read_text()


def test_no_notify_socket_is_a_silent_no_op() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    notifier.ready("x")  # nothing to send to, nothing raised
    notifier.watchdog()


def test_watchdog_meant_for_another_process_is_ignored(notify: NotifySocket) -> None:
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier.from_environment(env).watchdog_interval_s is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert SystemdNotifier.from_environment(env).watchdog_interval_s == 1.0


class HangingSource:
    """Stands in for a camera driver whose read() never returns (no machine here has one):
    the hang no timeout of ours can end."""

    uri = "test://hangs"
    nominal_fps = None

    def __init__(self) -> None:
        self.release = threading.Event()

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        self.release.wait()
        raise OSError("released")

    def close(self) -> None:
        self.release.set()


def test_a_hung_capture_thread_is_reported(notify: NotifySocket) -> None:
    """hung() turns true for a worker stuck inside read(), and the service stops pinging."""
    source = HangingSource()
    worker = CameraWorker("stuck", lambda: source)
    worker.start()
    try:
        time.sleep(0.3)
        assert worker.state is CameraState.STARTING
        assert not worker.hung(limit_s=5)
        assert worker.hung(limit_s=0.2)
    finally:
        worker.stop(timeout=0.1)
        source.release.set()


def test_supervisor_stops_pinging_while_a_worker_hangs(
    notify: NotifySocket, tmp_path: Path
) -> None:
    """The real services and supervisor, with one camera whose driver hangs in read(): the
    pings stop while it is stuck, and resume once it moves again."""
    store = ConfigStore(tmp_path / "config.json")
    store.save(RuntimeConfig(cameras=[CameraConfig(id="stuck", name="Stuck", uri="demo://")]))
    source = HangingSource()
    config = OnnxRuntimeConfig(providers=("cpu",))
    events = EventBus()
    pipeline = Pipeline()
    serving = ServingService([ModelSpec.parse("demo")], config, pipeline, store)
    cameras = CameraService(store, serving, pipeline, events, source_factory=lambda _config: source)
    telemetry = TelemetryService(events)
    models = ModelService(ModelRepository(tmp_path / "models"), serving, cameras, events, config)
    services = Services(
        serving=serving,
        detection=DetectionService(serving, ImageLimits(10**7, 4)),
        recorder=DetectionRecorder(),
        uploads=UploadLimits(1024),
        cameras=cameras,
        events=events,
        metrics=Metrics(),
        telemetry=telemetry,
        models=models,
    )
    notifier = SystemdNotifier(str(notify.path), watchdog_usec=200_000)

    async def scenario() -> None:
        await services.start()
        supervisor = Supervisor(notifier, services, hang_after_s=1.0)
        task = asyncio.create_task(supervisor.run(lambda: True))
        await asyncio.sleep(0.7)
        assert notify.count("WATCHDOG=1") >= 3  # stuck, but not for long yet
        await asyncio.sleep(0.8)
        stopped_at = notify.count("WATCHDOG=1")
        await asyncio.sleep(1.0)
        assert notify.count("WATCHDOG=1") == stopped_at  # hung for > 1 s: no pings
        source.release.set()  # the driver returns (with an error): the worker reconnects
        await asyncio.sleep(1.0)
        assert notify.count("WATCHDOG=1") >= stopped_at + 3
        task.cancel()

    try:
        asyncio.run(scenario())
    finally:
        source.release.set()
        services.close()
        notifier.close()
    assert any("hung: camera stuck" in m for _, m in notify.messages)


def test_journal_fields_carry_priority_and_ids() -> None:
    """What goes to journald with systemd-python: syslog priority and our structured ids."""
    records: list[dict] = []
    from loguru import logger

    sink = logger.add(lambda m: records.append(m.record), level="INFO")
    try:
        logger.bind(request_id="abc", camera="door").error("boom")
    finally:
        logger.remove(sink)
    fields = journal_fields(records[0])
    assert (
        fields["PRIORITY"] == "3" and fields["REQUEST_ID"] == "abc" and fields["CAMERA"] == "door"
    )
    assert fields["SYSLOG_IDENTIFIER"] == "appliance" and fields["CODE_LINE"].isdigit()
