"""The bus's history: a flood of stored-event messages leaves the state changes in it."""

from __future__ import annotations

from appliance.services.events import EventBus


def test_event_updates_do_not_push_state_changes_out():
    bus = EventBus(history=10)
    bus.publish("camera.state", camera="door", state="streaming")
    for n in range(50):
        bus.publish("event.update", camera="door", event={"id": str(n)})
    recent = bus.recent()
    assert [m["type"] for m in recent].count("camera.state") == 1
    assert [m["event"]["id"] for m in recent if m["type"] == "event.update"] == [
        str(n) for n in range(40, 50)
    ]
    assert [m["at"] for m in recent] == sorted(m["at"] for m in recent)
