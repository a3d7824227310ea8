"""IP anonymization: IPv4 keeps its /24, IPv6 its /48. The full address never leaves the
enricher. The country is looked up from the truncated address (allocations are far
coarser than a /24 or /48, so the answer is the same and it caches per network)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable


def anonymize(ip: str | None) -> str | None:
    """``203.0.113.77`` -> ``203.0.113.0``; ``2001:db8:1:2::9`` -> ``2001:db8:1::``.
    Anything that is not an IP address gives None (it is dropped, not passed on)."""
    if not ip:
        return None
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts) and ip.isascii():
        return f"{int(parts[0])}.{int(parts[1])}.{int(parts[2])}.0"  # the common case, without ipaddress
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


def country(ip: str | None, lookup: Callable[[str], str | None]) -> str | None:
    """ISO country code of a full address (private and reserved ranges give None)."""
    if not ip:
        return None
    try:
        return lookup(ip.strip()) or None
    except (ValueError, TypeError):
        return None
