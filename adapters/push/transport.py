"""How a push goes out: where it may go (`AddressGuard`), through which connection
(`Connections`), the POST itself (`HttpDeliverer`), and the runner's calls to the library
batched into one (`Batched`).

The guard refuses loopback, private, link-local, multicast, reserved and unspecified
addresses in every spelling the resolver accepts, and IPv6 addresses carrying such an
IPv4 address (6to4, Teredo, NAT64, IPv4-compatible), unless a network of
`TIDINGS_PUSH_ALLOW` (comma-separated CIDRs) holds them. A URL is checked when an account
is configured and again after DNS before every attempt, which connects to the very
address checked (no DNS rebinding). The POST follows no redirect and is bounded by the
account's timeout; whether its answer is a success is the domain's call."""

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import version
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from .views import ANSWER_KEPT, Reply

__all__ = [
    "ALLOW_ENV",
    "AddressGuard",
    "Batched",
    "Connections",
    "HttpDeliverer",
    "Refused",
    "retry_after",
    "since",
    "single_connection_clients",
]


ALLOW_ENV = "TIDINGS_PUSH_ALLOW"

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class Refused(Exception):
    """The target may not be pushed to; the message says why (no secret in it)."""


def _global(address: _Address) -> bool:
    """Whether `address` is public; an IPv6 address carrying IPv4 addresses for a
    translator or tunnel to reach is judged by those."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if any(address in network for network in _NAT64) or int(address) >> 32 == 0:
            inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        carried = [ip for ip in inner if ip is not None]
        if carried:
            return all(map(_global, carried))
    return address.is_global and not address.is_multicast and not address.is_reserved


class AddressGuard:
    """Which addresses a push may reach. `allow`: CIDRs let through although not global
    (default: TIDINGS_PUSH_ALLOW)."""

    def __init__(self, allow: Iterable[str] | None = None) -> None:
        spec = os.environ.get(ALLOW_ENV, "") if allow is None else ",".join(allow)
        parts = [part.strip() for part in spec.split(",")]
        try:
            self._allow = [ipaddress.ip_network(p, strict=False) for p in parts if p]
        except ValueError as error:
            raise ValueError(f"{ALLOW_ENV}: {error}") from None

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
        permitted; one that does not resolve now is checked again at each attempt."""
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


# What a receiver's logs see pushing to it (not `python-httpx/...`).
_USER_AGENT = f"tidings/{version('tidings')}"

# Headers and body leave in separate writes: without TCP_NODELAY the body waits for the
# receiver's delayed ACK.
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def single_connection_clients(count: int, **options: Any) -> list[httpx.AsyncClient]:
    """`count` clients that keep one connection each (`options` go to every client; the
    default headers say `User-Agent: tidings/<version>`), sharing one TLS context."""
    options.setdefault("headers", {"User-Agent": _USER_AGENT})
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = httpx.create_ssl_context()
    return [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(verify=tls, socket_options=_NODELAY, limits=limits),
            **options,
        )
        for _ in range(max(1, count))
    ]


class Connections:
    """`count` single-connection clients (docs/decisions.md): `take` one for a request to
    `place` (where its connection goes: a free one going there first, else the one freed
    longest ago, else the least busy), `give_back` it when the request is done."""

    def __init__(self, count: int, **options: Any) -> None:
        self.clients = single_connection_clients(count, **options)
        self._load = [0] * len(self.clients)
        # Free clients -> where their connection goes, in order of release; and by place.
        self._free: dict[int, str | None] = dict.fromkeys(range(len(self.clients)))
        self._free_to: dict[str, dict[int, None]] = {}

    def take(self, place: str) -> int:
        """The index of the client to send a request to `place` through."""
        chosen = next(iter(self._free_to.get(place) or self._free), None)
        if chosen is None:
            chosen = self._load.index(min(self._load))
        else:
            went = self._free.pop(chosen)
            if went is not None:
                same = self._free_to[went]
                del same[chosen]
                if not same:  # places come and go: keep only those with a free client
                    del self._free_to[went]
        self._load[chosen] += 1
        return chosen

    def give_back(self, chosen: int, place: str) -> None:
        """The request `take` sent through client `chosen` is done."""
        self._load[chosen] -= 1
        if self._load[chosen] == 0:
            self._free[chosen] = place
            self._free_to.setdefault(place, {})[chosen] = None

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() too, which float() refuses
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def since(started: float) -> float:
    """Milliseconds since `started` (a `time.monotonic()`), as an attempt records them."""
    return round((time.monotonic() - started) * 1000, 3)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class HttpDeliverer:
    """POSTs pushes through up to `max_connections` connections (close with `aclose`)."""

    def __init__(self, guard: AddressGuard, *, max_connections: int = 256) -> None:
        # httpx logs every request's URL at INFO; a receiver's URL may carry a token.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self._guard = guard
        # No proxy from the environment may see our pushes; no redirect is followed.
        self._connections = Connections(max_connections, follow_redirects=False, trust_env=False)

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def post(
        self,
        url: str,
        content_type: str,
        body: bytes,
        headers: dict[str, str],
        *,
        connect_timeout: float,
        timeout: float,
        now: datetime,
    ) -> Reply:
        """POST `body` to `url`; never raises for what the network or receiver does."""
        started = time.monotonic()
        try:
            host, address, port = await self._guard.resolve(url)
        except Refused as refused:
            return Reply(status=None, error=f"refused: {refused}", duration_ms=since(started))
        parts = urlsplit(url)
        named = _bracketed(host)
        if port != (443 if parts.scheme == "https" else 80):
            named += f":{port}"
        request_headers = {**headers, "content-type": content_type, "host": named}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        # The URL with its host replaced by the checked address.
        pinned = urlunsplit(parts._replace(netloc=f"{_bracketed(address)}:{port}"))
        # Where the connection goes: the TLS name too, a connection is made for one name.
        place = f"{parts.scheme} {address} {port} {host}"
        chosen = self._connections.take(place)
        try:
            with anyio.fail_after(timeout):
                request = self._connections.clients[chosen].stream(
                    "POST",
                    pinned,
                    content=body,
                    headers=request_headers,
                    timeout=httpx.Timeout(timeout, connect=connect_timeout),
                    extensions=extensions,
                )
                async with request as response:
                    # Read to the end, keeping the connection and the first KiB.
                    kept = b""
                    async for chunk in response.aiter_bytes():
                        if len(kept) < ANSWER_KEPT:
                            kept += chunk
            return Reply(
                status=response.status_code,
                duration_ms=since(started),
                retry_after=retry_after(response.headers.get("retry-after"), now),
                answer=kept[:ANSWER_KEPT].decode("utf-8", "replace"),
            )
        except TimeoutError:
            error = f"timed out after {timeout} s"
        except httpx.HTTPError as failed:
            error = f"{type(failed).__name__}: {failed}" if str(failed) else type(failed).__name__
        finally:
            self._connections.give_back(chosen, place)
        return Reply(status=None, error=error, duration_ms=since(started))


A = TypeVar("A")
R = TypeVar("R")


class Batched(Generic[A, R]):
    """`await batched(argument)` answers `run([... argument ...])`'s result for it, on
    asyncio. `run` takes a batch and answers one result per argument, in order; what it
    raises is raised to every caller of the batch."""

    def __init__(self, run: Callable[[Sequence[A]], Sequence[R]]) -> None:
        self._run = run
        self._waiting: list[tuple[A, asyncio.Future[R]]] = []
        self._running = False

    async def __call__(self, argument: A) -> R:
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((argument, answer))
        if not self._running:
            self._running = True
            try:
                while self._waiting:  # lead until nobody waits: ours went in the first
                    batch, self._waiting = self._waiting, []
                    await self._send(batch)
            finally:
                self._running = False
        return await answer

    async def _send(self, batch: list[tuple[A, asyncio.Future[R]]]) -> None:
        try:
            results = await anyio.to_thread.run_sync(self._run, [a for a, _ in batch])
            for (_, answer), result in zip(batch, results, strict=True):
                answer.set_result(result)
        except Exception as error:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
