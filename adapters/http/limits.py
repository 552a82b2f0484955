"""The server's limits against a hostile world (each a `tidings serve` option, listed in
README), uvicorn configured with them, and the deadlines for slow clients uvicorn lacks:
a request's head (`head_deadline_protocol`), then its body (`BodyDeadline`)."""

import asyncio
import ipaddress
import logging
import re
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tidings.domain.document import DEPTH
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .body import BodyTooSlow, ClientGone, Unfinished

__all__ = [
    "DEFAULT_LIMITS",
    "FILES_RESERVE",
    "SENT_NAMES",
    "BodyDeadline",
    "JoinedWrites",
    "Limits",
    "connections_that_fit",
    "head_deadline_protocol",
    "server_config",
    "settle_unfinished",
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


# The scope key of the request's header names as the client spelled them, in the order
# of `scope["headers"]` (whose names uvicorn lower-cases).
SENT_NAMES = "tidings.sent_header_names"

_log = logging.getLogger("tidings.server")


def _closing(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, len(text), text)
    )


_TIMEOUT = _closing(b"408 Request Timeout", b"the request's head came too slow")
_TOO_LARGE = _closing(b"431 Request Header Fields Too Large", b"the request's head is too large")
_BUSY = _closing(b"503 Service Unavailable", b"the server has too many open connections")
# The empty line that ends a head (httptools also takes bare LFs).
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class JoinedWrites(asyncio.Transport):
    """`transport` with its writes joined, so uvicorn's head and body leave in one socket
    write: a write is held until the next one, which leaves with it, or until the loop's
    next turn (at most one is held, so the bytes keep their order)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._held = None
        self._transport.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class _HeadDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head does not
    arrive within `head_timeout` seconds of its open or a kept-alive request's first byte
    (408) or grows past `max_head` bytes (431); past `max_connections` open connections,
    503 at once, so the cap (below the open-files limit) leaves a descriptor to answer."""

    head_timeout = 10.0
    max_head = 64 * 1024
    max_connections = 2048
    _crowded = False  # past the connection cap now: logged once until it clears

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_tail = b""
        self._joined: JoinedWrites | None = None
        self._sent_names: list[bytes] = []

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)
            self._head_bytes = 0
            self._head_tail = b""

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:  # inside a head: count it
            before = self._head_bytes
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head and not self._head_ends(data, before):
                self._disarm()
                self._refuse(_TOO_LARGE)
                return
            self._head_tail = data[-3:]
        super().data_received(data)

    def _head_ends(self, data: bytes, before: int) -> bool:
        window = self._head_tail + data[: self.max_head - before]
        return _HEAD_END.search(window) is not None

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._joined = JoinedWrites(transport, self.loop)
        crowded = len(self.connections) > self.max_connections
        if crowded != _HeadDeadline._crowded:
            _HeadDeadline._crowded = crowded
            if crowded:
                _log.warning(
                    "more than %d open connections: new ones are answered 503",
                    self.max_connections,
                )
        if crowded:
            self._refuse(_BUSY)
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection's next request: its first byte is here
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        self._sent_names = scope[SENT_NAMES] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._sent_names.append(name)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self._joined is not None:
            self.cycle.transport = self._joined  # one write per answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits behind a response still being written: the 408
            # would cut into it. Its deadline starts again; the app's time is bounded.
            self._arm()
        else:
            self._refuse(_TIMEOUT)


def head_deadline_protocol(
    head_timeout: float, max_head: int, max_connections: int
) -> type[asyncio.Protocol]:
    """The protocol class to pass uvicorn as `http=`."""
    limits = {
        "head_timeout": head_timeout,
        "max_head": max_head,
        "max_connections": max_connections,
    }
    return type("HeadDeadline", (_HeadDeadline,), limits)


class BodyDeadline:
    """ASGI middleware: a request's whole body must arrive within `timeout` seconds of
    its head, else the app sees `BodyTooSlow` and the client a 408; a client that hangs
    up mid-body is logged at info and answered nothing."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One timer a request, armed until the body is in, cancels a waiting receive, which
        # raises BodyTooSlow (a timeout around each receive costs more: docs/decisions.md).
        loop = asyncio.get_running_loop()
        expired = False
        waiting: asyncio.Task[Any] | None = None
        started = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if waiting is not None:
                waiting.cancel()

        timer: asyncio.TimerHandle | None = loop.call_later(self.timeout, expire)

        async def timed_receive() -> Message:
            nonlocal waiting, timer
            if timer is None:  # the body is in: waiting for a disconnect has no deadline
                return await receive()
            if expired:
                raise BodyTooSlow
            waiting = asyncio.current_task()
            try:
                message = await receive()
            except asyncio.CancelledError:
                if expired and waiting is not None and not waiting.uncancel():
                    raise BodyTooSlow from None
                raise
            finally:
                waiting = None
            if message["type"] == "http.disconnect":
                raise ClientGone
            if not message.get("more_body", False):
                timer.cancel()
                timer = None
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, watch)
        except (Unfinished, ClientDisconnect) as error:
            await settle_unfinished(scope, send, error, None if started else [])
        finally:
            if timer is not None:  # an app that did not read the body (a GET)
                timer.cancel()


async def settle_unfinished(
    scope: Scope, send: Send, error: Exception, headers: list[tuple[bytes, bytes]] | None
) -> int:
    """One info line for a body that did not arrive whole, and a 408 with `headers` when it
    came too slow (None: an answer had started); the status for the access log (408, 499)."""
    request = f"{scope['method']} {scope['path']}"
    if not isinstance(error, BodyTooSlow):
        _log.info("%s: the client hung up before its body was whole", request)
        return 499
    _log.info("%s: the body came too slow, answered 408", request)
    if headers is not None:
        body = b"the request's body came too slow"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *headers,
        ]
        await send({"type": "http.response.start", "status": 408, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    return 408
