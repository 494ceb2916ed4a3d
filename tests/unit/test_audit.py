"""Audit lines (appliance/auth/audit.py) and the guard that writes them for failed
authentication (appliance/services/auth_guard.py): one structured record each, with the
fields journald gets, and the guard's 429 and recent-failures list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from appliance.auth.audit import Actor, audit, audited
from appliance.auth.throttle import Throttle, ThrottlePolicy
from appliance.errors import ModelNotFoundError, TooManyFailuresError
from appliance.logging import journal_fields
from appliance.services.auth_guard import RECENT, AuthGuard


@pytest.fixture
def records() -> Iterator[list[dict]]:
    """Audit records written while the test runs (a real loguru sink)."""
    caught: list[dict] = []
    sink = logger.add(
        lambda message: caught.append(message.record),
        filter=lambda record: record["extra"].get("audit") is True,
        level="INFO",
    )
    yield caught
    logger.remove(sink)


def test_one_record_with_journald_fields(records: list[dict]) -> None:
    with logger.contextualize(request_id="req-1"):
        audit("model.delete", outcome="ok", client="203.0.113.9", token_id="1a2b3c4d", target="m")
    (record,) = records
    assert record["message"] == (
        "audit model.delete outcome=ok client=203.0.113.9 token_id=1a2b3c4d target=m"
    )
    fields = journal_fields(record)
    assert fields["EVENT"] == "model.delete" and fields["OUTCOME"] == "ok"
    assert fields["CLIENT_ADDRESS"] == "203.0.113.9" and fields["TOKEN_ID"] == "1a2b3c4d"
    assert fields["TARGET"] == "m" and fields["REQUEST_ID"] == "req-1"
    assert "USER_NAME" not in fields  # None is left out


def test_values_cannot_forge_a_second_line(records: list[dict]) -> None:
    audit("camera.add", outcome="ok", client="-", target="door\naudit model.delete outcome=ok")
    (record,) = records
    assert "\n" not in record["message"]
    assert 'target="door\\naudit model.delete outcome=ok"' in record["message"]


def test_an_audited_action_says_how_it_ended(records: list[dict]) -> None:
    actor = Actor("203.0.113.9", token_id="1a2b3c4d")
    with audited("camera.remove", actor, target="door"):
        pass
    with pytest.raises(ModelNotFoundError), audited("model.delete", actor, target="nope"):
        raise ModelNotFoundError("no model 'nope'")
    first, second = (r["extra"] for r in records)
    assert first["event"] == "camera.remove" and first["outcome"] == "ok"
    assert second["outcome"] == "failed" and second["error"] == "model_not_found"
    assert second["client"] == "203.0.113.9" and second["token_id"] == "1a2b3c4d"


def test_the_guard_audits_counts_and_locks_out(records: list[dict]) -> None:
    reasons: list[str] = []
    lockouts: list[None] = []
    guard = AuthGuard(
        Throttle(ThrottlePolicy(max_failures=3)),
        on_failure=reasons.append,
        on_lockout=lambda: lockouts.append(None),
    )
    key = ("203.0.113.9",)
    for _ in range(3):
        guard.check(key)
        guard.failed(key, "bad_token", token_id="1a2b3c4d", path="/v1/cameras")
    with pytest.raises(TooManyFailuresError) as refused:
        guard.check(key)
    assert refused.value.retry_after == 30 and refused.value.code == "too_many_failures"
    guard.check(("203.0.113.10",))  # another address: through
    guard.check(("203.0.113.9", "admin"))  # that address's password key: through
    assert reasons == ["bad_token"] * 3 + ["locked_out"] and len(lockouts) == 1
    events = [(r["extra"]["event"], r["extra"]["outcome"]) for r in records]
    assert events == [("auth.failed", "denied")] * 3 + [("auth.lockout", "locked")]
    assert records[0]["extra"]["reason"] == "bad_token"
    assert records[0]["extra"]["path"] == "/v1/cameras"
    assert records[-1]["level"].name == "WARNING" and records[-1]["extra"]["seconds"] == "30"


def test_recent_failures_are_bounded_newest_first() -> None:
    guard = AuthGuard(Throttle(ThrottlePolicy(max_failures=10_000)))
    for n in range(RECENT + 10):
        guard.failed((f"10.0.0.{n}",), "bad_password", user=f"user{n}")
    recent = guard.recent()
    assert len(recent) == RECENT
    assert recent[0].client == f"10.0.0.{RECENT + 9}" and recent[0].user == f"user{RECENT + 9}"
    assert recent[0].reason == "bad_password"
