"""The client's address: the peer, or what a trusted proxy says in X-Forwarded-For.

By default the address is the TCP peer and X-Forwarded-For is ignored: any
client can write that header, and the login guard counts failures by address.
Behind a reverse proxy (an ingress, nginx), list the proxies in
`server.trusted_proxies`; when the peer is one of them, the address is the
right-most X-Forwarded-For entry that is not itself a trusted proxy — the
last hop a trusted proxy saw, which a client cannot forge (nginx's
`real_ip_recursive`, aiohttp-remotes' strict mode). A malformed entry stops
the walk at the trusted hop before it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import hdrs, web

UNKNOWN = "-"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """Resolves a request's client address (a callable: `resolver(request) -> str`).

    Args:
        trusted_proxies: addresses or networks (``10.0.0.0/8``) of proxies whose
            X-Forwarded-For is believed; empty: the peer, always.
    """

    def __init__(self, trusted_proxies: Sequence[str] = ()) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in trusted_proxies
        )
        # False: the address is the peer, always (callers may skip the call).
        self.trusts_proxies = bool(self._networks)

    def __call__(self, request: web.BaseRequest) -> str:
        peer = request.remote or UNKNOWN
        if not self._networks or not self._trusted(peer):
            return peer
        hops = [
            hop.strip()
            for value in request.headers.getall(hdrs.X_FORWARDED_FOR, ())
            for hop in value.split(",")
        ]
        address = peer
        for hop in reversed(hops):
            if not _valid(hop):
                break  # garbage: keep the last hop a trusted proxy vouched for
            address = hop
            if not self._trusted(hop):
                break
        return address

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
