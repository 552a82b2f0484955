"""The IP allow-list of an account: which entries it may hold, and which addresses it lets in.

Entries are IP addresses or CIDR networks (`192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32`);
an empty list lets every address in.
"""

import ipaddress

__all__ = ["ip_allowed", "ips_problem"]


def ips_problem(ips: tuple[str, ...]) -> str | None:
    """What is wrong with an allow-list, or None."""
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            return f"allowed_ips holds IP addresses or CIDR networks, not {ip!r}"
    return None


def ip_allowed(allowed: tuple[str, ...], client_ip: str | None) -> bool:
    """Whether `client_ip` is on the allow-list.

    An empty list allows every address. An unknown or unparsable client address is
    refused by a non-empty list. The entries are valid: `ips_problem` refuses any other.
    """
    if not allowed:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in allowed:
        network = ipaddress.ip_network(entry, strict=False)
        if address in network:
            return True
        # An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None and mapped in network:
            return True
    return False
