"""`appliance tls self-signed`, HTTPS on loopback with the pair it made, and authentication
off binding loopback only."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import ROOT, free_port
from pydantic import ValidationError

from appliance.settings import Settings


@dataclass
class TlsServer:
    process: subprocess.Popen[bytes]
    port: int
    cert: Path
    fingerprint: str
    log: Path


def self_signed(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "appliance", "tls", "self-signed", "--out", str(out)]
    hosts = ["--host", "localhost", "--host", "127.0.0.1"]
    return subprocess.run(
        [*command, *hosts, *extra], cwd=ROOT, capture_output=True, text=True, check=False
    )


def strict_context(cert: Path) -> ssl.SSLContext:
    """Trusts only this certificate, with the checks Python 3.13 makes by default."""
    context = ssl.create_default_context(cafile=str(cert))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """`appliance serve` with the self-signed pair, authentication off and no host given."""
    root = tmp_path_factory.mktemp("tls")
    made = self_signed(root / "tls")
    assert made.returncode == 0, made.stderr
    fingerprint = re.search(r"SHA-256 fingerprint: ([0-9A-F:]{95})", made.stdout)
    env_lines = dict(re.findall(r"^(APPLIANCE_TLS_\w+)=(.+)$", made.stdout, re.M))
    assert fingerprint is not None and set(env_lines) == {"APPLIANCE_TLS_CERT", "APPLIANCE_TLS_KEY"}
    data, port, log = root / "data", free_port(), root / "server.log"
    data.mkdir()
    (data / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    env = {k: v for k, v in os.environ.items() if k != "APPLIANCE_HOST"}
    env.update(env_lines, APPLIANCE_AUTH="0")
    command = [sys.executable, "-m", "appliance", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data)], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    server = TlsServer(process, port, Path(env_lines["APPLIANCE_TLS_CERT"]), fingerprint[1], log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _wait_ready(server: TlsServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    url = f"https://127.0.0.1:{server.port}/readyz"
    with httpx.Client(verify=strict_context(server.cert)) as http:
        while True:
            assert server.process.poll() is None, server.log.read_text()
            assert time.monotonic() < deadline, server.log.read_text()
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)


def test_self_signed_writes_a_private_key_and_refuses_to_overwrite(tmp_path: Path) -> None:
    made = self_signed(tmp_path)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE((tmp_path / "appliance.key").stat().st_mode) == 0o600
    assert "valid for localhost, 127.0.0.1" in made.stdout
    again = self_signed(tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr
    assert self_signed(tmp_path, "--force").returncode == 0


def test_https_on_loopback_with_the_printed_fingerprint(tls_server: TlsServer) -> None:
    url = f"https://127.0.0.1:{tls_server.port}"
    for host in ("127.0.0.1", "localhost"):  # both names are in the certificate
        with httpx.Client(verify=strict_context(tls_server.cert)) as http:
            response = http.get(f"https://{host}:{tls_server.port}/healthz")
            assert response.status_code == 200 and response.json() == {"status": "ok"}
    served = ssl.get_server_certificate(("127.0.0.1", tls_server.port))
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper()
    assert ":".join(re.findall("..", digest)) == tls_server.fingerprint
    with httpx.Client() as http, pytest.raises(httpx.ConnectError):
        http.get(url + "/healthz")  # the system's CAs do not trust it: no silent fallback
    with httpx.Client() as http, pytest.raises(httpx.TransportError):
        http.get(f"http://127.0.0.1:{tls_server.port}/healthz")  # no plain HTTP beside it


def test_auth_off_binds_loopback_and_warns(tls_server: TlsServer) -> None:
    listening = {
        c.laddr.ip
        for c in psutil.Process(tls_server.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {"127.0.0.1"}
    assert "authentication is OFF" in tls_server.log.read_text()


def test_the_bind_address_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLIANCE_HOST", raising=False)
    monkeypatch.delenv("APPLIANCE_AUTH", raising=False)
    assert Settings().auth is True  # on unless turned off explicitly
    assert Settings().bind_host == "0.0.0.0"  # ...and then the LAN is served by default
    assert Settings(auth=False).bind_host == "127.0.0.1"
    assert Settings(auth=False, host="0.0.0.0").bind_host == "0.0.0.0"  # told otherwise
    monkeypatch.setenv("APPLIANCE_HOST", "0.0.0.0")
    assert Settings(auth=False).bind_host == "0.0.0.0"
    with pytest.raises(ValidationError, match="TLS"):
        Settings(tls_cert=Path("/x.crt"))
