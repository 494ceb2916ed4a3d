"""The Events page's pure parts: how an event reads, when its clip counts as coming, what the
filters ask the archive, and which bus messages mean the list changed."""

from __future__ import annotations

import time

from ui import event_format
from ui.components.event_detail import clip_state
from ui.event_feed import SETTLE_S, EventFilter, newest_event_message
from ui.pages.activity import describe, shown_here

NOW = time.mktime((2026, 12, 6, 14, 3, 22, 0, 0, -1))
EVENT = {
    "id": f"{NOW - 12:.6f}-ab12cd",
    "camera": "door",
    "label": "person",
    "track_id": 3,
    "start_time": NOW - 12.0,
    "end_time": NOW - 7.5,
    "top_score": 0.874,
    "box": [1.0, 2.0, 3.0, 4.0],
    "frame": {"width": 1280, "height": 720},
    "zones": ["bench"],
    "lines": [{"line": "gate", "direction": "in", "at": NOW - 10.0}],
    "has_snapshot": True,
    "has_clip": False,
}


def test_times_durations_and_scores_read_plainly():
    assert event_format.clock(NOW, NOW) == "14:03:22"
    assert event_format.clock(NOW - 2 * 86400, NOW) == time.strftime(
        "%b %d %H:%M:%S", time.localtime(NOW - 2 * 86400)
    )
    assert event_format.duration(10.0, None) == "in progress"
    assert event_format.duration(10.0, 14.25) == "4.2 s"
    assert event_format.duration(0.0, 65.0) == "1 min 05 s"
    assert event_format.duration(0.0, 2 * 3600 + 180.0) == "2 h 03 min"
    assert event_format.score(0.874) == "87%"
    assert event_format.title(EVENT) == "person #3"
    assert event_format.crossing(EVENT["lines"][0], NOW) == "gate in at 14:03:12"


def test_event_messages_read_as_sentences_not_dicts():
    """The bus carries the whole event as a dict: the Activity log's describe() (should one
    ever reach it) says what happened in words."""
    new = {"type": "event.new", "at": NOW, "camera": "door", "event": EVENT}
    assert describe(new) == "door: person #3 appeared (87%)"
    update = {**new, "type": "event.update"}
    assert describe(update) == "door: person #3 best 87%, zones bench, crossed gate in"
    end = {**new, "type": "event.end"}
    assert describe(end) == "door: person #3 gone after 4.5 s"
    assert not any("{" in describe(m) for m in (new, update, end))
    assert not shown_here(new) and not shown_here(end)
    assert shown_here({"type": "camera.state", "at": NOW, "camera": "door", "state": "failed"})


def test_a_clip_is_coming_until_it_cannot_any_more():
    assert clip_state({**EVENT, "has_clip": True}, clips_on=True, now=NOW) == "ready"
    assert clip_state({**EVENT, "end_time": None}, clips_on=True, now=NOW) == "writing"
    assert clip_state(EVENT, clips_on=True, now=NOW) == "writing"  # ended 7.5 s ago
    assert clip_state(EVENT, clips_on=True, now=NOW + SETTLE_S) == "none"
    assert clip_state(EVENT, clips_on=False, now=NOW) == "off"


def test_filters_become_archive_queries():
    assert not EventFilter().narrowed
    query = EventFilter().query(24)
    assert (query.camera, query.label, query.zone, query.after, query.limit) == (
        None,
        None,
        None,
        None,
        24,
    )
    narrowed = EventFilter(camera="door", label="cat", zone="bench", span_s=3600)
    query = narrowed.query(1000, cursor="c", now=NOW)
    assert narrowed.narrowed
    assert (query.camera, query.label, query.zone) == ("door", "cat", "bench")
    assert query.after == NOW - 3600 and query.before is None
    assert query.limit == 500 and query.cursor == "c"  # the archive's largest page


def test_only_event_messages_mark_news():
    state = {"type": "camera.state", "at": 1.0, "camera": "door", "state": "streaming"}
    assert newest_event_message([state]) is None
    first = {"type": "event.new", "at": 2.0, "camera": "door", "event": EVENT}
    later = {"type": "event.end", "at": 3.0, "camera": "door", "event": EVENT}
    assert newest_event_message([first, state]) == (2.0, "event.new", EVENT["id"])
    assert newest_event_message([first, later, state]) == (3.0, "event.end", EVENT["id"])
