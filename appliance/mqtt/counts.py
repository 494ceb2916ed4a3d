"""The count topics of one publisher: objects in view per camera and per zone, and line
crossings per direction, one retained topic per label."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from appliance.mqtt.retained import Owner, RetainedStore
from appliance.mqtt.topics import CountGroup, count_payload, total_topic
from appliance.mqtt.topology import Topology


class CountTopics:
    """Which labels each group has published, so that a label gone from the counts is
    published as 0 (not left at its last value), and a new camera's or zone's counts start
    at 0 rather than "unknown". Not thread-safe: the publisher calls it under its lock."""

    def __init__(self, store: RetainedStore, prefix: str) -> None:
        self._store, self._prefix = store, prefix
        self._groups: dict[CountGroup, set[str]] = {}

    def put(self, group: CountGroup, counts: Mapping[str, int]) -> bool:
        """Queue `group`'s counts (every label it ever had; a camera's total too); True when
        a topic's value changed."""
        owner = functools.partial(Owner, group.camera, zone=group.zone, line=group.line)
        changed = False
        labels = self._groups.setdefault(group, set())
        labels.update(counts)
        for label in labels:
            payload = count_payload(counts.get(label, 0))
            changed |= self._store.put(group.topic(self._prefix, label), payload, owner(label))
        if group.zone is None and group.line is None:
            total = count_payload(sum(counts.values()))
            topic = total_topic(self._prefix, group.camera)
            changed |= self._store.put(topic, total, Owner(group.camera))
        return changed

    def prune(self, old: Topology | None, new: Topology) -> None:
        """Forget the groups and labels `new` no longer has."""
        kept: dict[CountGroup, set[str]] = {}
        for g, labels in self._groups.items():
            if not new.drops(old, g.camera, None, g.zone, g.line):
                kept[g] = {x for x in labels if not new.drops(old, g.camera, x, g.zone, g.line)}
        self._groups = kept

    def zero_new(self, topology: Topology) -> None:
        """Counts of objects in view start at 0 (not "unknown"); line counts are the caller's."""
        for camera, cam in topology.cameras.items():
            groups = [CountGroup(camera)] + [CountGroup(camera, zone=z) for z in cam.zones]
            for group in groups:
                labels = self._groups.setdefault(group, set())
                for label in cam.labels:
                    topic = group.topic(self._prefix, label)
                    if self._store.payload(topic) is None:
                        labels.add(label)
                        self._store.put(topic, b"0", Owner(camera, label, group.zone))
            total = total_topic(self._prefix, camera)
            if self._store.payload(total) is None:
                self._store.put(total, b"0", Owner(camera))
