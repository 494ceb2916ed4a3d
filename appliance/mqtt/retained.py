"""Every retained message this process wants on the broker, and which of them still need
sending. Not thread-safe: the publisher holds its lock around every call.

The broker may lose retained messages (restarted without persistence), so the store keeps
them all and `resend_all()` queues them again on every connection. A deletion (an empty
retained payload, which removes a retained message and a discovery entity) stays queued until
it has been handed to the client once on a connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.mqtt.topics import Message
from appliance.mqtt.topology import Topology


@dataclass(frozen=True)
class Owner:
    """What a retained state topic is about, to tell when a new topology removes it."""

    camera: str
    label: str | None = None
    zone: str | None = None
    line: str | None = None


class RetainedStore:
    def __init__(self) -> None:
        self._payloads: dict[str, bytes] = {}
        self._configs: set[str] = set()
        self._owners: dict[str, Owner] = {}
        self._deletes: set[str] = set()
        self._pending: dict[str, None] = {}  # an ordered set: configs go first on resend

    def __len__(self) -> int:
        return len(self._payloads)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def config_topics(self) -> set[str]:
        return set(self._configs)

    def payload(self, topic: str) -> bytes | None:
        return self._payloads.get(topic)

    def put(self, topic: str, payload: bytes, owner: Owner | None = None) -> bool:
        """Keep `payload` as the topic's retained message; queue it if it changed. `owner`
        None marks a discovery config."""
        self._deletes.discard(topic)
        if owner is None:
            self._configs.add(topic)
        else:
            self._owners[topic] = owner
        if self._payloads.get(topic) == payload:
            return False
        self._payloads[topic] = payload
        self._pending[topic] = None
        return True

    def delete(self, topic: str) -> None:
        """Forget the topic and queue an empty retained payload for it."""
        self._payloads.pop(topic, None)
        self._configs.discard(topic)
        self._owners.pop(topic, None)
        self._deletes.add(topic)
        self._pending[topic] = None

    def stale_states(self, old: Topology | None, new: Topology) -> list[str]:
        return [
            topic
            for topic, o in self._owners.items()
            if new.drops(old, o.camera, o.label, o.zone, o.line)
        ]

    def resend_all(self) -> None:
        """Queue everything again (a new connection): configs first, then state and deletions."""
        ordered = [t for t in self._payloads if t in self._configs]
        ordered += [t for t in self._payloads if t not in self._configs]
        self._pending = dict.fromkeys([*ordered, *sorted(self._deletes)])

    def take(self, limit: int) -> list[Message]:
        """Up to `limit` queued messages, with their newest payload, off the queue."""
        out: list[Message] = []
        while self._pending and len(out) < limit:
            topic = next(iter(self._pending))
            del self._pending[topic]
            payload = self._payloads.get(topic)
            if payload is not None:
                out.append(Message(topic, payload, True))
            elif topic in self._deletes:
                out.append(Message(topic, b"", True))
        return out

    def handed_over(self, message: Message) -> None:
        """The client took `message`: a deletion is done (the client keeps it until acked)."""
        if not message.payload:
            self._deletes.discard(message.topic)

    def requeue(self, message: Message) -> None:
        """The client refused `message` (its queue is full): send it again later."""
        if message.topic in self._payloads or message.topic in self._deletes:
            self._pending[message.topic] = None
