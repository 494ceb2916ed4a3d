"""Persistent state survives a process killed at any moment: config.json and the model
repository are written atomically, carry a schema version, and a restart finds the last
(or the one in flight) complete state and no debris."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from helpers import ROOT, free_port

from appliance.config import SCHEMA_VERSION, ConfigError, ConfigStore, RuntimeConfig
from appliance.models.files import sha256_of
from appliance.models.repository import META_FILE, META_SCHEMA_VERSION, ModelRepository

WRITER = Path(__file__).with_name("writer.py")
NAMES = ("alpha", "beta", "gamma")  # as writer.py cycles them
ROUNDS = 20
SEED = int(os.environ.get("KILL_SEED", random.randrange(1 << 30)))


# --- schema versions ----------------------------------------------------------------------


def test_config_from_a_newer_appliance_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "cameras": []}))
    with pytest.raises(ConfigError, match="newer appliance"):
        ConfigStore(path).load()
    path.write_text('{"schema_version": 1, "cameras": [')  # not something we ever write
    with pytest.raises(ConfigError, match="not valid JSON"):
        ConfigStore(path).load()


def test_model_metadata_has_a_schema_version_and_old_files_still_load(tmp_path: Path) -> None:
    repository = ModelRepository(tmp_path / "models")
    source = tmp_path / "m.onnx"
    source.write_bytes(b"model bytes")
    meta = repository.add("m", source, source="test")
    meta_file = repository.path(meta).with_name(META_FILE)
    saved = json.loads(meta_file.read_text())
    assert saved["schema_version"] == META_SCHEMA_VERSION
    del saved["schema_version"]  # as written before the field existed
    meta_file.write_text(json.dumps(saved))
    assert repository.get("m").version == meta.version
    saved["schema_version"] = META_SCHEMA_VERSION + 1  # from a newer appliance: skipped
    meta_file.write_text(json.dumps(saved))
    assert repository.list() == []


def test_debris_of_killed_writes_is_never_read_and_is_swept(tmp_path: Path) -> None:
    """A staged version holding a complete meta.json (killed just before its rename), a
    half-deleted model, partial metadata and config temp files: none is listed or loaded,
    and start-up removes them."""
    repository = ModelRepository(tmp_path / "models")
    source = tmp_path / "m.onnx"
    source.write_bytes(b"model bytes")
    meta = repository.add("m", source, source="test")
    version = repository.path(meta).parent
    staged = version.parent / ".staging-x1"
    staged.mkdir()
    (staged / META_FILE).write_text(
        (version / META_FILE).read_text().replace(meta.version, "ffffffffffff")
    )
    (version / f"{META_FILE}.part").write_text('{"na')
    (tmp_path / "models" / ".deleting-old-1").mkdir()
    assert [m.version for m in repository.list()] == [meta.version]
    removed = {p.name for p in repository.recover()}
    assert removed == {".staging-x1", f"{META_FILE}.part", ".deleting-old-1"}
    store = ConfigStore(tmp_path / "config.json")
    store.save(RuntimeConfig())
    (tmp_path / ".config-abc123").write_text('{"schema_version": 1, "cam')
    assert ConfigStore(store.path).load() == RuntimeConfig()
    assert not list(tmp_path.glob(".config-*"))


# --- SIGKILL during writes ----------------------------------------------------------------


ACK_FIELDS = {"config": 2, "add": 3, "delete": 2}


def _acks(output: str) -> list[tuple[str, ...]]:
    """The acknowledged writes: whole lines only. A line the kill cut short (no newline, or
    fewer fields than its kind has) acknowledges nothing."""
    complete = output.split("\n")[:-1]
    acks = [tuple(line.split()) for line in complete if line.strip()]
    return [ack for ack in acks if ACK_FIELDS.get(ack[0]) == len(ack)]


def _check_state(data: Path, generation: int, models: dict[str, str | None], last: tuple) -> None:
    """What a restart reads: the acknowledged state, or that plus the write in flight.
    `models` then follows what is on disk (the next writer goes on from there)."""
    loaded = ConfigStore(data / "config.json").load()
    assert loaded is not None
    found = int((loaded.default_model or "gen0").removeprefix("gen"))
    assert found in (generation, generation + 1), (found, last)  # G+1: the write in flight
    assert len(loaded.cameras) == found % 7  # one whole generation, not a mix
    assert {c.name for c in loaded.cameras} <= {f"gen {found}"}
    # the model write that may be in flight: the one of the generation just acknowledged
    pending = NAMES[generation % 3] if last[0] == "config" else None
    repository = ModelRepository(data / "models")
    repository.recover()
    listed = {meta.name: meta for meta in repository.list()}
    for meta in listed.values():  # every listed version is whole
        path = repository.path(meta)
        assert path.stat().st_size == meta.size_bytes
        assert sha256_of(path) == meta.sha256
    for name, version in models.items():
        have = listed[name].version if name in listed else None
        assert have == version or name == pending, (name, version, have, last)
        models[name] = have
    assert not [p for p in data.rglob("*") if p.name.startswith((".staging-", ".deleting-"))]


def test_sigkill_at_random_moments_leaves_a_loadable_state(tmp_path: Path) -> None:
    """ROUNDS (20) rounds: a writer process saves config generations and adds/deletes model
    versions in a loop and is SIGKILLed at a random moment (seed in the failure message);
    each time the data dir loads, holding the last acknowledged or the in-flight state."""
    data = tmp_path / "data"
    data.mkdir()
    rng = random.Random(SEED)
    generation, models, kills_mid_write = 0, {name: None for name in NAMES}, 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(ROUNDS):
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(data)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert writer.stdout is not None
        first = writer.stdout.readline()  # it runs: kill it inside the loop, not at import
        time.sleep(rng.uniform(0.0, 0.25))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        acks = _acks(first + writer.stdout.read())
        writer.stdout.close()
        assert acks, f"round {round_}: the writer acknowledged nothing (seed {SEED})"
        for ack in acks:
            if ack[0] == "config":
                generation = int(ack[1])
            elif ack[0] == "add":
                models[ack[1]] = ack[2]
            else:
                models[ack[1]] = None
        debris = list(data.glob(".config-*")) + list(data.glob("models/*/.staging-*"))
        kills_mid_write += bool(debris)
        try:
            _check_state(data, generation, models, acks[-1])
        except Exception as exc:
            raise AssertionError(f"round {round_}, seed {SEED}, acks {acks[-3:]}: {exc}") from exc
    print(f"{ROUNDS} kills, {kills_mid_write} left debris of a write in progress")


# --- SIGKILL of the real service ----------------------------------------------------------


def _start(data: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "APPLIANCE_AUTH": "0", "APPLIANCE_DASHBOARD": "0"}
    with log.open("ab") as out:
        command = [sys.executable, "-m", "appliance", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--data-dir", str(data)], cwd=ROOT, stdout=out, stderr=out, env=env
        )
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                if http.get("/readyz").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            time.sleep(0.05)


class Hammer(threading.Thread):
    """Creates, renames and deletes cameras over HTTP, one request at a time, as fast as the
    server answers; remembers the state the server acknowledged and the request in flight."""

    def __init__(self, url: str, acked: dict[str, str], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.url, self.acked, self.rng = url, acked, rng
        self.in_flight: tuple[str, str, str] | None = None
        self.done = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while True:
                camera_id = f"c{self.rng.randrange(8)}"
                name = f"n{self.rng.randrange(10**6)}"
                op = "create"
                if camera_id in self.acked:
                    op = "patch" if self.rng.random() < 0.6 else "delete"
                self.in_flight = (op, camera_id, name)
                try:
                    response = self._send(http, op, camera_id, name)
                except httpx.TransportError:
                    return  # killed: this request is the one in flight
                assert response.status_code in (200, 201, 204), response.text
                if op == "delete":
                    del self.acked[camera_id]
                else:
                    self.acked[camera_id] = name
                self.in_flight = None
                self.done += 1

    @staticmethod
    def _send(http: httpx.Client, op: str, camera_id: str, name: str) -> httpx.Response:
        if op == "create":
            body = {"id": camera_id, "name": name, "uri": "demo://", "enabled": False}
            return http.post("/v1/cameras", json=body)
        if op == "patch":
            return http.patch(f"/v1/cameras/{camera_id}", json={"name": name})
        return http.delete(f"/v1/cameras/{camera_id}")


def test_service_killed_mid_write_restarts_with_the_last_state(tmp_path: Path) -> None:
    """`appliance serve` is SIGKILLed while a client changes cameras as fast as it can; the
    restarted service serves the acknowledged cameras (or those plus the change in flight)."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    data.mkdir()
    (data / "config.json").write_text('{"schema_version": 1, "cameras": []}')
    rng = random.Random(SEED)
    acked: dict[str, str] = {}
    in_flight: tuple[str, str, str] | None = None
    total = 0
    for round_ in range(5):  # four kills, then a last start that is only checked
        port = free_port()
        process = _start(data, port, log)
        try:
            url = f"http://127.0.0.1:{port}"
            cameras = httpx.get(f"{url}/v1/cameras").json()["cameras"]
            served = {c["id"]: c["name"] for c in cameras}
            _assert_one_of(served, acked, in_flight, f"round {round_}, seed {SEED}")
            assert not list(data.glob(".config-*"))  # swept at start
            if round_ == 4:
                break
            hammer = Hammer(url, served, rng)  # what it serves is the truth from here on
            hammer.start()
            time.sleep(rng.uniform(0.3, 1.0))
            process.send_signal(signal.SIGKILL)
            process.wait()
            hammer.join(15)
            assert not hammer.is_alive()
            acked, in_flight, total = hammer.acked, hammer.in_flight, total + hammer.done
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(15)
    assert total > 20  # the kills landed among many writes


def _assert_one_of(
    served: dict[str, str], acked: dict[str, str], in_flight: tuple | None, where: str
) -> None:
    allowed = [acked]
    if in_flight is not None:
        op, camera_id, name = in_flight
        after = dict(acked)
        if op == "delete":
            after.pop(camera_id, None)
        else:
            after[camera_id] = name
        allowed.append(after)
    assert served in allowed, f"{where}: served {served}, expected one of {allowed}"
