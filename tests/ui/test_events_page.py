"""The Events page on the real app: cards of events a real file camera made (a person walks
across an empty scene), live; the detail that waits for the clip and then plays it; delete;
and, on events stored through the real store, filters, "Load more" and the viewer's view."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import Scene
from nicegui import ui
from ui_harness import Dashboard, only, sign_in_as_viewer, until

from appliance.devtools.visits import write_visit_clip
from appliance.events.files import event_paths
from appliance.events.model import EventRecord
from appliance.services.event_archive import EventNotFoundError
from ui.event_feed import PAGE

pytestmark = pytest.mark.anyio


def _texts(dashboard: Dashboard, marker: str) -> list[str]:
    """The texts of the labels inside the element marked `marker`."""
    element = only(dashboard, marker)
    return [e.text for e in element.descendants() if isinstance(e, ui.label)]


def _cards(dashboard: Dashboard) -> list[str]:
    """Ids of the event cards, in their order on the page."""
    grid = only(dashboard, "event-grid")
    return [
        child.props["data-event"]
        for child in grid.default_slot.children
        if "data-event" in child.props
    ]


class TestARealCamera:
    @pytest.fixture
    def cameras(self, tmp_path: Path) -> list[dict]:
        visit = write_visit_clip(tmp_path / "visit.avi", empty_s=2.0, visit_s=3.0)
        events = {"pre_s": 1.0, "post_s": 0.5, "labels": ["person"]}
        return [{"id": "door", "name": "Door", "uri": f"file://{visit.path}", "events": events}]

    async def test_an_event_comes_in_live_its_clip_follows_and_delete_removes_it(
        self, dashboard: Dashboard
    ):
        user, archive = dashboard.user, dashboard.services.archive
        assert archive is not None
        await user.open("/events")
        # a card comes in while the person walks (nothing reloads the page): "in progress"
        await until(lambda: _in_progress(dashboard), timeout=60)
        event_id = _in_progress(dashboard)[0]
        card_texts = _texts(dashboard, f"event-{event_id}")
        assert any(t.startswith("person #") for t in card_texts), card_texts
        assert "Door" in card_texts  # the camera's name

        # opened while it lasts: the snapshot (once written) and a note; the clip replaces
        # them once the walk ended and the clip was written
        user.find(marker=f"event-{event_id}").trigger("click")
        await user.should_see(marker="event-detail")
        await user.should_see("being written")
        await until(lambda: _present(dashboard, "event-video"), timeout=60)
        video = only(dashboard, "event-video")
        assert video.props["src"] == f"/v1/events/{event_id}/clip.mp4"
        assert video.props["poster"] == f"/v1/events/{event_id}/snapshot.jpg"
        assert video.props["muted"] and video.props["autoplay"] and video.props["playsinline"]
        assert (await dashboard.http.get(video.props["src"])).headers["content-type"] == (
            "video/mp4"
        )
        record = archive.get(event_id)
        assert record.end_time is not None and record.has_clip
        assert only(dashboard, "fact-camera").text == "Door"
        assert only(dashboard, "fact-label").text == "person"
        assert only(dashboard, "fact-track").text == f"#{record.track_id}"
        assert only(dashboard, "fact-duration").text.endswith(" s")
        await user.should_see(marker="download-clip")

        # the card got its end meanwhile
        await until(lambda: "in progress" not in _texts(dashboard, f"event-{event_id}"))

        # delete (authentication is off: everyone may), confirmed
        paths = event_paths(archive._root, "door", event_id)
        assert paths.clip.is_file() and paths.snapshot.is_file()
        user.find(marker="delete-event").click()
        await user.should_see(marker="confirm-delete")
        user.find(marker="confirm-delete").click()
        await until(lambda: event_id not in _cards(dashboard))
        with pytest.raises(EventNotFoundError):
            archive.get(event_id)
        assert not paths.clip.exists() and not paths.snapshot.exists()


def _present(dashboard: Dashboard, marker: str) -> bool:
    try:
        return bool(dashboard.user.find(marker=marker).elements)
    except AssertionError:  # User.find raises while there is none
        return False


def _in_progress(dashboard: Dashboard) -> list[str]:
    """Ids of the cards that say "in progress"."""
    return [i for i in _cards(dashboard) if "in progress" in _texts(dashboard, f"event-{i}")]


STORED = [
    {"id": "door", "name": "Door", "uri": "demo://", "enabled": False,
     "zones": {"bench": {"points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}}},
    {"id": "yard", "name": "Yard", "uri": "demo://", "enabled": False},
]  # fmt: skip


def _store(dashboard: Dashboard, records: list[EventRecord]) -> None:
    recording = dashboard.services.recording
    assert recording is not None
    for record in records:
        recording.store.upsert(record)
    assert recording.store.flush(timeout=10)


def _record(n: int, camera: str, label: str, start: float, **more) -> EventRecord:
    return EventRecord(
        id=f"{start:.6f}-ev{n:04d}",
        camera=camera,
        label=label,
        track_id=n,
        start_time=start,
        end_time=start + 4.0,
        top_score=0.8,
        box=(100.0, 100.0, 300.0, 400.0),
        frame_width=1280,
        frame_height=720,
        **more,
    )


class TestStoredEvents:
    @pytest.fixture
    def cameras(self) -> list[dict]:
        return STORED  # stopped: nothing but the stored events

    async def test_empty_then_load_more_filters_and_live(self, dashboard: Dashboard):
        user = dashboard.user
        await user.open("/events")
        await user.should_see("No events yet")

        now = time.time()
        people = [
            _record(i, "door", "person", now - 600 - 10 * i, zones=("bench",)) for i in range(20)
        ]
        cats = [_record(100 + i, "yard", "cat", now - 300 - 10 * i) for i in range(6)]
        old = [_record(200 + i, "yard", "cat", now - 2 * 86400 - i) for i in range(4)]
        _store(dashboard, people + cats + old)
        newest_first = [r.id for r in sorted(people + cats + old, key=lambda r: -r.start_time)]

        await user.open("/events")
        await until(lambda: len(_cards(dashboard)) == PAGE)
        assert _cards(dashboard) == newest_first[:PAGE]
        user.find(marker="load-more").click()
        await until(lambda: len(_cards(dashboard)) == len(newest_first))
        assert _cards(dashboard) == newest_first
        await user.should_not_see(marker="load-more")  # nothing older

        # filters query the archive again
        only(dashboard, "filter-camera").value = "yard"
        await until(lambda: _cards(dashboard) == [r.id for r in cats + old])
        only(dashboard, "filter-span").value = 3600
        await until(lambda: _cards(dashboard) == [r.id for r in cats])
        only(dashboard, "filter-label").value = "person"
        await until(lambda: not _cards(dashboard))
        await user.should_see("No events match these filters")
        only(dashboard, "filter-camera").value = None
        only(dashboard, "filter-zone").value = "bench"
        await until(lambda: _cards(dashboard) == [r.id for r in people])

        # a new event on the bus comes in on top, without a reload
        fresh = _record(300, "door", "person", time.time(), zones=("bench",))
        _store(dashboard, [fresh])
        dashboard.services.events.publish("event.new", camera="door", event=fresh.to_api())
        await until(lambda: _cards(dashboard)[:1] == [fresh.id], timeout=10)


class TestAViewer:
    @pytest.fixture
    def cameras(self) -> list[dict]:
        return STORED

    @pytest.fixture
    def auth(self) -> bool:
        return True

    async def test_a_viewer_watches_through_signed_urls_but_cannot_delete(
        self, dashboard: Dashboard, scene: Scene
    ):
        record = _record(1, "door", "person", time.time() - 600, has_snapshot=True)
        recording = dashboard.services.recording
        assert recording is not None
        snapshot = event_paths(recording.root, "door", record.id).snapshot
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_bytes(scene.jpeg())
        _store(dashboard, [record])
        user = dashboard.user
        await sign_in_as_viewer(dashboard, "/events")
        await until(lambda: _cards(dashboard) == [record.id])
        card = only(dashboard, f"event-{record.id}")
        (picture,) = [e for e in card.descendants() if e.tag == "img"]
        assert "sig=" in picture.props["src"] and "crop=1" in picture.props["src"]
        signed = await dashboard.http.get(picture.props["src"])  # no token: the signature
        assert signed.status_code == 200 and signed.headers["content-type"] == "image/jpeg"

        user.find(marker=f"event-{record.id}").trigger("click")
        await user.should_see(marker="event-detail")
        await user.should_see("No clip")  # ended long ago without one
        await user.should_not_see(marker="delete-event")


class TestActivity:
    @pytest.fixture
    def cameras(self) -> list[dict]:
        return STORED

    async def test_the_activity_log_leaves_stored_events_out(self, dashboard: Dashboard):
        bus = dashboard.services.events
        record = _record(1, "door", "person", time.time())
        for kind in ("event.new", "event.update", "event.end"):
            bus.publish(kind, camera="door", event=record.to_api())
        bus.publish("camera.state", camera="door", state="reconnecting", reason="testing")
        await dashboard.user.open("/activity")
        table = only(dashboard, "activity")
        await until(lambda: any(row["type"] == "camera.state" for row in table.rows))
        assert not [row for row in table.rows if row["type"].startswith("event.")]
        assert "door: reconnecting (testing)" in [row["text"] for row in table.rows]
