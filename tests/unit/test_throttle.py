"""Lockouts after failed authentication (appliance/auth/throttle.py) on a fake clock: when
they start, how they double and cap, how they are forgotten, that memory stays bounded and
that threads cannot race past the limit."""

from __future__ import annotations

import threading

import pytest

from appliance.auth.throttle import Throttle, ThrottlePolicy

KEY = ("198.51.100.7",)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fail(throttle: Throttle, key: tuple = KEY, times: int = 1) -> float:
    """The last lockout started (0.0: none)."""
    started = 0.0
    for _ in range(times):
        started = throttle.failed(key) or started
    return started


def test_the_tenth_failure_in_a_minute_locks_the_key_out() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    assert fail(throttle, times=9) == 0.0
    assert throttle.retry_after(KEY) == 0.0
    assert throttle.failed(KEY) == 30.0
    assert throttle.retry_after(KEY) == 30.0
    clock.advance(29.5)
    assert throttle.retry_after(KEY) == pytest.approx(0.5)
    clock.advance(0.5)
    assert throttle.retry_after(KEY) == 0.0  # over by itself


def test_failures_spread_over_more_than_a_minute_never_lock() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    for _ in range(100):
        assert throttle.failed(KEY) == 0.0
        clock.advance(6.7)  # never 10 within 60 s
    assert throttle.retry_after(KEY) == 0.0


def test_lockouts_double_per_repeat_up_to_fifteen_minutes() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    seen = []
    for _ in range(8):
        seconds = fail(throttle, times=10)
        seen.append(seconds)
        clock.advance(seconds)  # waits it out, then guesses again at once
    assert seen == [30, 60, 120, 240, 480, 900, 900, 900]


def test_failures_during_a_lockout_change_nothing() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    fail(throttle, times=10)
    assert fail(throttle, times=50) == 0.0  # requests that were checked just before
    assert throttle.retry_after(KEY) == 30.0


def test_one_repeat_is_forgotten_per_fifteen_quiet_minutes() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    for expected in (30, 60, 120):
        assert fail(throttle, times=10) == expected
        clock.advance(expected)
    clock.advance(900)  # one step back: the next lockout is 120 s again, not 240 s
    assert fail(throttle, times=10) == 120
    clock.advance(120 + 3 * 900)  # quiet long enough to forget every lockout
    assert fail(throttle, times=10) == 30


def test_other_keys_are_not_affected() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    fail(throttle, times=10)
    assert throttle.retry_after(("198.51.100.8",)) == 0.0
    assert throttle.retry_after((KEY[0], "admin")) == 0.0  # a password key of that address
    assert fail(throttle, ("198.51.100.8",), times=9) == 0.0


def test_checking_never_adds_a_key() -> None:
    throttle = Throttle(ThrottlePolicy(), Clock())
    for n in range(1000):
        assert throttle.retry_after((f"10.0.{n // 256}.{n % 256}",)) == 0.0
    assert len(throttle) == 0


def test_memory_stays_bounded_however_many_addresses_fail() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(max_keys=500), clock)
    for n in range(20_000):  # an attacker cycling addresses, one guess each
        throttle.failed((f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",))
    assert len(throttle) == 500
    locked = ("203.0.113.1",)
    fail(throttle, locked, times=10)  # the newest: kept, however full
    assert throttle.retry_after(locked) == 30.0


def test_forgotten_keys_are_pruned_as_failures_arrive() -> None:
    clock = Clock()
    throttle = Throttle(ThrottlePolicy(), clock)
    for n in range(300):
        throttle.failed((f"10.0.{n // 256}.{n % 256}",))
    clock.advance(61)  # nothing left to remember about any of them
    throttle.failed(KEY)
    assert len(throttle) == 1
    fail(throttle, ("203.0.113.1",), times=10)
    clock.advance(61)
    throttle.failed(("203.0.113.2",))
    assert len(throttle) == 2  # the locked-out one is remembered (its repeat count) and the new


def test_threads_cannot_race_past_the_limit() -> None:
    throttle = Throttle(ThrottlePolicy(), Clock())
    started: list[float] = []
    barrier = threading.Barrier(8)

    def guess() -> None:
        barrier.wait()
        for _ in range(500):
            seconds = throttle.failed(KEY)
            if seconds:
                started.append(seconds)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert started == [30.0]  # exactly one lockout, however the 4000 failures interleaved
