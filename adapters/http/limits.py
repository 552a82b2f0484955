"""The server's limits against a hostile world (each a `tidings serve` option, listed in
README), and uvicorn configured with them."""

import ipaddress
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from tidings.domain.document import DEPTH

from .deadlines import head_deadline_protocol

__all__ = [
    "DEFAULT_LIMITS",
    "FILES_RESERVE",
    "Limits",
    "connections_that_fit",
    "server_config",
    "trusted_networks",
]


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The limits a server runs with, in seconds, bytes and counts (failures per
    `auth_window` seconds)."""

    head_timeout: float = 10.0
    max_head: int = 64 * 1024
    body_timeout: float = 30.0
    keep_alive: int = 5
    max_connections: int = 2048
    backlog: int = 2048
    # The nesting of an API or Merchants body (the domain's "body" depth).
    max_depth: int = DEPTH["body"]
    auth_failures_per_address: int = 30
    auth_failures_per_login: int = 30
    auth_window: float = 60.0
    auth_floor: float = 0.1
    ready_interval: float = 5.0


DEFAULT_LIMITS = Limits()


# Descriptors kept for what is not a client connection: the database, log files, the
# listening socket, outgoing pushes.
FILES_RESERVE = 256


def trusted_networks(text: str) -> tuple[str, ...]:
    """`--trusted-proxies` ("CIDR,CIDR,..." or "") as networks; ValueError names an
    entry that is not an address or a network."""
    networks = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def connections_that_fit(wanted: int) -> int:
    """Raise this process's soft limit of open files so `wanted` connections and
    `FILES_RESERVE` fit, as far as the hard limit allows; how many connections fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FILES_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        ceiling = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FILES_RESERVE))


def server_config(
    app: ASGIApp,
    limits: Limits,
    *,
    host: str,
    port: int,
    trusted_proxies: Sequence[str] = (),
    **options: Any,
) -> uvicorn.Config:
    """The uvicorn configuration of a tidings server: `limits`, our head deadline, and
    proxy headers only from `trusted_proxies` (a client cannot choose the address the
    allow-lists and the throttle see); `options` go to uvicorn as they are."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=head_deadline_protocol(limits.head_timeout, limits.max_head, limits.max_connections),
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        limit_concurrency=limits.max_connections,
        backlog=limits.backlog,
        timeout_keep_alive=limits.keep_alive,
        timeout_graceful_shutdown=30,
        **options,
    )
