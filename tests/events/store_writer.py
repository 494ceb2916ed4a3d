"""Writes events through EventStore as fast as a busy camera would, for the SIGKILL test:
`python store_writer.py EVENTS_DB SEED`. At start it ends the events the last kill left open
(as the service does), prints "ready" once its first batch is committed, then keeps 50
objects in view: each loop updates every one (new score, zones), and ends and replaces a few;
now and then 300 short events arrive at once (a commit of many pages)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from appliance.events.model import EventRecord, new_event_id
from appliance.events.store import EventStore

ZONES = ("door", "drive", "lawn")


def born(rng: random.Random, track: int) -> EventRecord:
    now = time.time()
    return EventRecord(
        id=new_event_id(now),
        camera=rng.choice(("front", "yard")),
        label=rng.choice(("person", "car")),
        track_id=track,
        start_time=now,
        end_time=None,
        top_score=0.3,
        box=(1.0, 2.0, 30.0, 40.0),
        frame_width=1280,
        frame_height=720,
    )


def step(rng: random.Random, event: EventRecord) -> EventRecord:
    zones = event.zones + tuple(z for z in ZONES if z not in event.zones and rng.random() < 0.05)
    score = max(event.top_score, round(rng.random(), 3))
    return EventRecord(**{**vars(event), "zones": zones, "top_score": score})


def main(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = EventStore(path, max_delay=0.01)
    store.end_open_events()
    track = 0
    live = []
    for _ in range(50):
        track += 1
        live.append(born(rng, track))
    for event in live:
        store.upsert(event)
    store.flush(10)
    print("ready", flush=True)
    while True:
        for i, event in enumerate(live):
            live[i] = step(rng, event)
            if rng.random() < 0.05:  # it leaves; a new object comes
                store.upsert(EventRecord(**{**vars(live[i]), "end_time": time.time()}))
                track += 1
                live[i] = born(rng, track)
            store.upsert(live[i])
        if rng.random() < 0.05:  # now and then a big commit: more pages in flight at a kill
            for _ in range(300):
                track += 1
                gone = born(rng, track)
                store.upsert(EventRecord(**{**vars(gone), "end_time": gone.start_time + 1}))
        time.sleep(0.002)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
