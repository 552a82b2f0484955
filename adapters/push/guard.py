"""The address guard: a push never reaches our own network or a cloud's metadata service.

A URL is checked when an account is configured and again before every attempt, after
DNS resolution; the attempt then connects to the very address that was checked, so a
name that resolves elsewhere the second time (DNS rebinding) gains nothing. Loopback,
private, link-local (169.254.169.254 included), multicast, reserved and unspecified
addresses are refused, in every spelling the resolver accepts (`2130706433`,
`0x7f000001`, `127.1`, `::ffff:127.0.0.1`), and so are IPv6 addresses that carry an IPv4
address a router may unwrap (6to4 `2002::/16`, Teredo `2001::/32`, NAT64 `64:ff9b::/96`
and `64:ff9b:1::/48`, IPv4-compatible `::a.b.c.d`) when that IPv4 address is refused,
unless a network of `TIDINGS_PUSH_ALLOW`
(comma-separated CIDRs) holds them.
"""

import ipaddress
import os
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import anyio

__all__ = ["ALLOW_ENV", "AddressGuard", "Refused"]

ALLOW_ENV = "TIDINGS_PUSH_ALLOW"

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The target may not be pushed to; the message says why (no secret in it)."""


def _networks(spec: str) -> tuple[_Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()
        )
    except ValueError as error:
        raise ValueError(f"{ALLOW_ENV}: {error}") from None


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _embedded(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries for a translator or tunnel to reach."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in _NAT64) or int(address) >> 32 == 0:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in found if ip is not None]


def _plainly_global(address: _Address) -> bool:
    return address.is_global and not address.is_multicast and not address.is_reserved


def _global(address: _Address) -> bool:
    inner = _embedded(address) if isinstance(address, ipaddress.IPv6Address) else []
    if inner:  # judged by what it unwraps to
        return all(_plainly_global(ip) for ip in inner)
    return _plainly_global(address)


class AddressGuard:
    """Which addresses a push may reach. `allow`: CIDRs let through although not global
    (default: read from TIDINGS_PUSH_ALLOW)."""

    def __init__(self, allow: Iterable[str] | None = None) -> None:
        spec = os.environ.get(ALLOW_ENV, "") if allow is None else ",".join(allow)
        self._allow = _networks(spec)

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return _global(ip) or any(ip in network for network in self._allow)

    def _check(self, host: str, addresses: list[str]) -> str:
        refused = [a for a in addresses if not self.permits(a)]
        if refused or not addresses:
            raise Refused(f"{host!r} is not a public address ({', '.join(refused) or 'none'})")
        return addresses[0]

    @staticmethod
    def _host_port(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if not parts.hostname:
            raise Refused("the URL has no host")
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)

    def check_url(self, url: str) -> None:
        """Refuse (`Refused`) a URL whose host is or resolves to an address not
        permitted. A name that does not resolve now is let through: it is checked again
        before each attempt."""
        host, port = self._host_port(url)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return
        self._check(host, [str(info[4][0]) for info in infos])

    async def resolve(self, url: str) -> tuple[str, str, int]:
        """(host, checked address, port) to connect to; `Refused` when any address the
        host resolves to is not permitted, or it does not resolve."""
        host, port = self._host_port(url)
        try:  # an address written out needs no resolver (nor a thread to wait for it)
            return host, self._check(host, [str(ipaddress.ip_address(host))]), port
        except ValueError:
            pass  # a name, or a spelling only the resolver reads (`2130706433`)
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise Refused(f"{host!r} does not resolve: {error}") from None
        return host, self._check(host, [str(info[4][0]) for info in infos]), port
