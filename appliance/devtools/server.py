"""The real service for tests and benchmarks: `python -m appliance serve` in a subprocess on a
loopback port, started as a user would and stopped with SIGTERM; and its resident memory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Server:
    """A started service: its process, port and log file."""

    process: subprocess.Popen
    port: int
    log: Path
    token: str | None = None  # the initial admin token, when started with auth=True

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_server(
    workdir: Path,
    cameras: Sequence[dict] | None = (),
    env: dict[str, str] | None = None,
    auth: bool = False,
    port: int | None = None,
) -> Iterator[Server]:
    """Start the CLI in `workdir` with `cameras` saved in its data dir (none: nothing shares
    the CPU with what is measured); wait until its models are warm and its cameras stream;
    SIGTERM it afterwards. Authentication is off unless `auth` (then `server.token` holds
    the initial admin token). `cameras` None: start on what `workdir` holds from an earlier
    start (a restart). `port` None: a free one (give the old one to restart in place)."""
    env = {"APPLIANCE_AUTH": "1" if auth else "0", **(env or {})}
    port, log, data = port or free_port(), workdir / "server.log", workdir / "data"
    if cameras is None:
        cameras = json.loads((data / "config.json").read_text())["cameras"]
    else:
        data.mkdir(parents=True)
        config = {"schema_version": 1, "cameras": list(cameras)}
        (data / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "appliance", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            # file:// cameras may read the clips a test or benchmark wrote beside workdir
            env={**os.environ, "APPLIANCE_MEDIA_DIRS": str(workdir.parent), **env},
        )
    server = Server(process, port, log)
    try:
        _wait_started(server, len(cameras))
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_started(server: Server, cameras: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=5) as http:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not started in {timeout} s:\n{server.log_text()}")
            try:
                if http.get("/readyz").status_code == 200:
                    initial = server.log.parent / "data" / "admin.token"
                    if server.token is None and initial.exists():
                        server.token = initial.read_text().strip()
                    listed = http.get("/v1/cameras", headers=server.headers).json()
                    states = [c["status"]["state"] for c in listed["cameras"]]
                    if len(states) == cameras and set(states) <= {"streaming"}:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (NaN where there is none)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
