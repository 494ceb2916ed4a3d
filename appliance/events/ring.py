"""The pre-roll: a camera's most recent encoded packets, kept as whole GOPs."""

from __future__ import annotations

from collections import deque

from appliance.events.h264 import EncodedPacket


class PacketRing:
    """Encoded packets grouped by GOP (a keyframe and what follows it), oldest first. Whole
    GOPs are dropped from the old end once the next GOP still reaches `keep_s` back from the
    newest packet, so a clip can always start on a keyframe at least `keep_s` back. One
    thread changes it; `nbytes` and `span_s` may be read from any."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._gops: deque[list[EncodedPacket]] = deque()
        self.nbytes = 0
        self._span = (0.0, 0.0)  # (oldest, newest) captured_at, replaced whole: readable anywhere

    def push(self, packet: EncodedPacket) -> None:
        if packet.keyframe:
            self._gops.append([])
        elif not self._gops:
            return  # no keyframe to decode it from
        self._gops[-1].append(packet)
        self.nbytes += len(packet.data)
        horizon = packet.captured_at - self.keep_s
        while len(self._gops) > 1 and self._gops[1][0].captured_at <= horizon:
            self.nbytes -= sum(len(p.data) for p in self._gops.popleft())
        self._span = (self._gops[0][0].captured_at, packet.captured_at)

    def since(self, at: float) -> list[EncodedPacket]:
        """Everything from the last keyframe at or before `at` (the oldest one if none is
        that old) to the newest packet; empty while the ring is."""
        gops = list(self._gops)
        first = max((i for i, gop in enumerate(gops) if gop[0].captured_at <= at), default=0)
        return [p for gop in gops[first:] for p in gop]

    def span_s(self) -> float:
        """Seconds from the oldest packet kept to the newest."""
        oldest, newest = self._span
        return newest - oldest

    def clear(self) -> None:
        self._gops.clear()
        self.nbytes = 0
        self._span = (0.0, 0.0)
