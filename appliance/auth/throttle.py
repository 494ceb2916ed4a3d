"""Lockouts for keys that keep failing to authenticate (pure logic, a clock to inject).

A key is any hashable tuple: `(address,)` for tokens, signatures and sign-in codes,
`(address, user)` for passwords, so a guesser elsewhere never locks a user out. After
`max_failures` failures within `window_s`, the key is locked for `lockout_s`; each further
lockout doubles that, up to `max_lockout_s`. One remembered lockout is forgotten per
`decay_s` that passes after the last one ended, so a key that stops failing starts afresh.
Successes are not counted at all: a key is only ever locked by its own failures.

Memory is bounded: at most `max_keys` keys, least recently failed dropped first, and keys
with nothing left to remember are pruned as failures arrive. The `limits` package counts
requests in windows but has neither doubling lockouts nor forgetting; this is ~100 lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Key = tuple[Hashable, ...]


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 10  # failures within window_s that start a lockout
    window_s: float = 60.0
    lockout_s: float = 30.0  # the first lockout; doubled per repeat
    max_lockout_s: float = 900.0
    decay_s: float = 900.0  # one remembered lockout forgotten per this much quiet
    max_keys: int = 10_000  # ~200 bytes each: a few MB at most

    def lockout_for(self, repeats: int) -> float:
        """How long the lockout after `repeats` earlier (remembered) ones lasts."""
        return min(self.lockout_s * 2.0 ** min(repeats, 32), self.max_lockout_s)


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)  # recent failure times, oldest first
    locked_until: float = -math.inf
    repeats: int = 0  # lockouts so far, as of locked_until


class Throttle:
    """Thread-safe: the API checks on the event loop, the dashboard in its handlers."""

    def __init__(
        self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._records: OrderedDict[Key, _Record] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def retry_after(self, key: Key) -> float:
        """Seconds until `key` may try again; 0.0 when it may now. Never adds a key."""
        with self._lock:
            record = self._records.get(key)
            return max(0.0, record.locked_until - self._clock()) if record else 0.0

    def failed(self, key: Key) -> float:
        """Count a failure of `key`: the lockout it starts (seconds), else 0.0. A failure
        while locked (a request that was checked just before the lockout) changes nothing."""
        now, policy = self._clock(), self.policy
        with self._lock:
            record = self._records.pop(key, None) or _Record()
            self._prune(now)
            self._records[key] = record  # now the most recently failed
            while len(self._records) > policy.max_keys:
                self._records.popitem(last=False)
            if now < record.locked_until:
                return 0.0
            record.failures.append(now)
            while record.failures and record.failures[0] <= now - policy.window_s:
                record.failures.popleft()
            if len(record.failures) < policy.max_failures:
                return 0.0
            repeats = self._remembered(record, now)
            seconds = policy.lockout_for(repeats)
            record.failures.clear()
            record.locked_until, record.repeats = now + seconds, repeats + 1
            return seconds

    def _remembered(self, record: _Record, now: float) -> int:
        """The record's lockouts less those forgotten since its last one ended."""
        if record.repeats == 0:
            return 0
        quiet = now - record.locked_until
        return max(0, record.repeats - int(quiet // self.policy.decay_s))

    def _stale(self, record: _Record, now: float) -> bool:
        recent = bool(record.failures) and record.failures[-1] > now - self.policy.window_s
        return not recent and now >= record.locked_until and self._remembered(record, now) == 0

    def _prune(self, now: float) -> None:
        """Drop keys with nothing left to remember from the old end (amortised O(1))."""
        while self._records:
            oldest = next(iter(self._records.values()))
            if not self._stale(oldest, now):
                break
            self._records.popitem(last=False)
