"""A process writing events is SIGKILLed at random moments, several times: the database
passes SQLite's integrity check each time, every event a reader had listed is still there,
and the events the kill left open are ended by the next start (seed in the failure message)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT

from appliance.events.store import EventStore

WRITER = Path(__file__).with_name("store_writer.py")
ROUNDS = 10
SEED = int(os.environ.get("KILL_SEED", random.randrange(1 << 30)))


def test_sigkill_during_event_writes_loses_nothing_listed(tmp_path: Path) -> None:
    path = tmp_path / "events" / "events.db"
    rng = random.Random(SEED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listed: set[str] = set()
    reader = EventStore(path)  # the API's side: reads what the writer process committed
    try:
        for round_ in range(ROUNDS):
            writer = subprocess.Popen(
                [sys.executable, str(WRITER), str(path), str(rng.randrange(1 << 30))],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n", f"round {round_}: writer did not start"
            deadline = time.monotonic() + rng.uniform(0.05, 1.0)
            while time.monotonic() < deadline:
                listed |= {e.id for e in reader.query(limit=50)[0]}  # what the API lists
                listed |= reader.all_ids()
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            writer.stdout.close()
            context = f"round {round_}, seed {SEED}"
            assert _integrity(path) == "ok", context
            missing = listed - reader.all_ids()
            assert not missing, f"{context}: {len(missing)} listed events lost"
        open_before = len(_open_ids(path))
        with EventStore(path) as restarted:  # as the service starts: crash leftovers end
            ended = restarted.end_open_events()
            assert ended == open_before and not _open_ids(path)
            every, cursor = [], None
            while True:  # every row reads back whole through the listing
                page, cursor = restarted.query(limit=500, cursor=cursor)
                every += page
                if cursor is None:
                    break
            assert {e.id for e in every} >= listed
    finally:
        reader.close()
    print(f"{ROUNDS} kills, {len(listed)} events listed and kept, {ended} ended at restart")


def _integrity(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return "\n".join(r[0] for r in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


def _open_ids(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [r[0] for r in connection.execute("SELECT id FROM events WHERE end_time IS NULL")]
    finally:
        connection.close()
