"""The client's address: the socket peer, or what a trusted proxy says in ``X-Forwarded-For``."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: tuple[IPv4Network | IPv6Network, ...],
) -> str | None:
    """The client's address: the socket peer, unless it is a trusted proxy, in which case the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    if peer is None or not trusted or not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to what we know
    return hops[0] if hops else peer


def is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """Whether ``address`` lies in one of the ``trusted`` networks."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
