"""A real Mosquitto broker on a loopback port, and a real paho subscriber that records what it
receives. Needs Debian's `mosquitto` package (installed by scripts/test.sh).

    with Mosquitto(tmp_path) as broker:  # anonymous; Mosquitto(path, users={"u": "pw"}): passwords
        with Subscriber(broker.port, "appliance/#") as sub:
            sub.wait_for("appliance/available", b"online")

`stop()` and `start()` again keep the port, so a client's reconnect finds the same broker; with
persistence off a restarted broker has lost every retained message, as after a crash.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from appliance.devtools.server import free_port

ROOT = Path(__file__).resolve().parents[2]  # the repository


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)), None
    )


def mosquitto_available() -> bool:
    """Whether the broker is installed. CI installs it, so there (CI set) it must not skip."""
    return bool(os.environ.get("CI")) or mosquitto_binary() is not None


class Mosquitto:
    """One broker process on 127.0.0.1: persistence off, anonymous unless `users` is given
    (then a password file made by mosquitto_passwd), TLS when `tls` names a certificate."""

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.workdir = workdir
        self.tls = tls  # (certificate, key) in PEM: the listener speaks TLS only
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.users = users
        self.log = workdir / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{username}:{password}@" if username is not None else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}127.0.0.1:{self.port}"

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"log_dest file {self.log}",
            "log_type all",
            "user root" if os.geteuid() == 0 else "",  # as root it would switch to 'mosquitto'
        ]
        if self.tls:
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        if self.users:
            passwords = self.workdir / "passwords"
            passwords.unlink(missing_ok=True)
            for i, (name, password) in enumerate(self.users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    ["mosquitto_passwd", *create, "-b", str(passwords), name, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(line for line in lines if line) + "\n")
        return path

    def start(self, timeout_s: float = 10) -> None:
        binary = mosquitto_binary()
        assert binary, "mosquitto is not installed (Debian package 'mosquitto')"
        self.process = subprocess.Popen(
            [binary, "-c", str(self._config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.process.returncode}: {self.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto not listening on {self.port}: {self.tail()}")

    def stop(self) -> None:
        """Terminate the broker (this PID only) and wait for it."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a frozen broker must stop too
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def signal(self, sig: int) -> None:
        """SIGSTOP freezes the broker with its sockets open (a hung broker); SIGCONT thaws it."""
        assert self.process is not None
        self.process.send_signal(sig)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic()


class Subscriber:
    """A paho client subscribed to `topics` that records every message, and waits for some."""

    def __init__(
        self,
        port: int,
        *topics: str,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.port, self.topics, self.qos = port, topics or ("#",), qos
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, msg.payload, msg.retain, time.monotonic()))
            self._cond.notify_all()

    def __enter__(self) -> Subscriber:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscriber did not get its SUBACK"
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait(self, predicate: Callable[[Received], bool], timeout_s: float = 10) -> Received:
        """The first message so far (or to come within `timeout_s`) that satisfies predicate."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({m.topic for m in self.messages})
                    raise TimeoutError(f"no matching message in {timeout_s} s; topics: {seen}")
                self._cond.wait(left)

    def wait_for(
        self,
        topic: str,
        payload: bytes | None = None,
        *,
        retain: bool | None = None,
        after: float = 0.0,
        timeout_s: float = 10,
    ) -> Received:
        """A message on `topic` (with that payload / retain flag) received after `after`."""
        return self.wait(
            lambda m: (
                m.topic == topic
                and m.at >= after
                and (payload is None or m.payload == payload)
                and (retain is None or m.retain == retain)
            ),
            timeout_s,
        )

    def last(self, topic: str) -> Received | None:
        with self._cond:
            return next((m for m in reversed(self.messages) if m.topic == topic), None)


def retained_messages(
    port: int, *topics: str, settle_s: float = 0.5, qos: int = 0
) -> dict[str, bytes]:
    """What a new subscriber is given: the broker's retained message per topic. Collects until
    no message came for `settle_s` (the broker sends them right after the SUBACK)."""
    with Subscriber(port, *topics, qos=qos) as sub:
        seen = -1
        while seen != len(sub.messages):
            seen = len(sub.messages)
            time.sleep(settle_s)
        return {m.topic: m.payload for m in sub.messages if m.retain}


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A started anonymous broker, stopped after the test. Import it into a conftest.py."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker
