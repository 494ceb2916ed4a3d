"""The client address behind reverse proxies (appliance/auth/client_address.py):
X-Forwarded-For is believed only from a trusted proxy, and then only as far as trusted
proxies wrote it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from appliance.auth.client_address import TrustedProxies
from appliance.settings import Settings

PROXIES = TrustedProxies.parse(["10.0.0.0/8", "192.168.1.1"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert TrustedProxies().client("192.168.1.1", ["203.0.113.9"]) == "192.168.1.1"


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert PROXIES.client("198.51.100.4", ["203.0.113.9"]) == "198.51.100.4"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        (["203.0.113.9"], "203.0.113.9"),
        (["1.1.1.1, 203.0.113.9"], "203.0.113.9"),  # the left part is the client's own claim
        (["1.1.1.1, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # through two of our proxies
        (["1.1.1.1", "203.0.113.9"], "203.0.113.9"),  # several headers read as one list
        (["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # all trusted: the farthest
        (["nonsense, 10.1.2.3"], "10.1.2.3"),  # unreadable: the last hop ours vouched for
        (["203.0.113.9:5123"], "203.0.113.9"),
        (["[2001:db8::7]:443"], "2001:db8::7"),
        ([], "192.168.1.1"),
    ],
)
def test_a_trusted_proxy_names_the_client(forwarded: list[str], client: str) -> None:
    assert PROXIES.client("192.168.1.1", forwarded) == client


def test_ipv4_mapped_peers_match_ipv4_networks() -> None:
    assert PROXIES.client("::ffff:10.0.0.5", ["203.0.113.9"]) == "203.0.113.9"
    assert TrustedProxies().client("::ffff:198.51.100.4") == "198.51.100.4"


def test_a_peer_that_is_no_address_is_kept_as_given() -> None:
    assert PROXIES.client("testclient", ["203.0.113.9"]) == "testclient"
    assert PROXIES.client(None) == "-"


def test_from_a_starlette_request() -> None:
    headers = [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.9")]
    scope = {"type": "http", "client": ("10.0.0.2", 4000), "headers": headers}
    assert PROXIES.of(Request(scope)) == "203.0.113.9"
    assert TrustedProxies().of(Request(scope)) == "10.0.0.2"


def test_the_setting_takes_addresses_and_networks(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, 192.168.1.1,::1")
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]
    assert Settings(data_dir=tmp_path).trusted_proxies == []
    with pytest.raises(ValidationError, match=r"not an IP address or CIDR network: 'proxy\.lan'"):
        Settings(data_dir=tmp_path, trusted_proxies="proxy.lan")
