"""One-time sign-in codes: once, within their time, kept only as hashes, bounded."""

from __future__ import annotations

import pytest

from appliance.auth import login_links
from appliance.auth.login_links import LoginLinkError, LoginLinks


class Clock:
    """Time that moves only when the test says (a stand-in for the wall clock)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_code_works_once() -> None:
    links = LoginLinks(60, Clock())
    issued = links.issue("1a2b3c4d")
    assert issued.token_id == "1a2b3c4d" and len(issued.code) >= 40
    assert links.redeem(issued.code) == "1a2b3c4d"
    with pytest.raises(LoginLinkError, match="used already"):
        links.redeem(issued.code)


def test_an_expired_code_is_refused_and_spent() -> None:
    clock = Clock()
    links = LoginLinks(60, clock)
    issued = links.issue("1a2b3c4d")
    assert issued.expires_at == clock.now + 60
    clock.now += 60
    with pytest.raises(LoginLinkError, match="expired"):
        links.redeem(issued.code)
    with pytest.raises(LoginLinkError, match="used already"):
        links.redeem(issued.code)


def test_unknown_and_long_forgotten_codes_are_refused() -> None:
    clock = Clock()
    links = LoginLinks(60, clock)
    with pytest.raises(LoginLinkError, match="not valid"):
        links.redeem("made-up")
    issued = links.issue("1a2b3c4d")
    clock.now += 60 + login_links.KEEP_S
    with pytest.raises(LoginLinkError, match="not valid"):
        links.redeem(issued.code)


def test_codes_are_kept_hashed_and_bounded() -> None:
    links = LoginLinks(60, Clock())
    first = links.issue("1a2b3c4d")
    assert first.code not in repr(vars(links))
    for _ in range(login_links.MAX_CODES):
        links.issue("1a2b3c4d")
    assert len(links._entries) == login_links.MAX_CODES
    with pytest.raises(LoginLinkError, match="not valid"):
        links.redeem(first.code)  # the oldest made room
