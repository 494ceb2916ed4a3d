"""Who is on the other end: the peer's address, or behind a trusted reverse proxy the
client it forwarded (`X-Forwarded-For`). Throttling keys, audit lines and the access log all
take the address from here.

`X-Forwarded-For` is only believed when the direct peer is a trusted proxy (anyone else can
write anything there); then the right-most address that is not itself a trusted proxy is the
client, since each proxy appends the peer it saw and only the right end was written by ours.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`10.0.0.1`, `10.0.0.0/8`, `::1`…; ValueError names the entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as proxies and servers write it (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`,
    `::ffff:1.2.3.4`), IPv4-mapped IPv6 as IPv4; None if it is none of those."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Sequence[Network] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        return cls(parse_networks(entries))

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The client's address from the peer's and the `X-Forwarded-For` values (each may
        list several, comma-separated). Not an IP (a test client's name): as given."""
        if not peer:
            return "-"
        nearest = parse_address(peer)
        if not self.trusts(nearest):
            return str(nearest) if nearest is not None else peer
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break  # a hop we cannot read: keep the last one a trusted proxy vouched for
            nearest = address
            if not self.trusts(address):
                break
        return str(nearest)

    def of(self, connection: HTTPConnection) -> str:
        """The client of a Starlette request or WebSocket (NiceGUI's `client.request` too)."""
        peer = connection.client.host if connection.client is not None else None
        return self.client(peer, connection.headers.getlist("x-forwarded-for"))
