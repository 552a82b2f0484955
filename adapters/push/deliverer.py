"""The HTTP deliverer: one POST of one notification, with httpx.

It connects to the address the guard checked (the Host header and TLS name stay the
URL's), follows no redirect, and bounds the whole attempt by the account's timeout. It
reports what happened (`Reply`) and decides nothing: whether that was a success, and
when to try again, is the domain's call.
"""

import logging
import socket
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
from msgspec import Struct

from .guard import AddressGuard, Refused

__all__ = [
    "ANSWER_KEPT",
    "NODELAY",
    "SHARD",
    "HttpDeliverer",
    "Reply",
    "retry_after",
    "sharded_clients",
]

# Bytes of a receiver's answer kept in the log with the attempt.
ANSWER_KEPT = 1024
# Headers and body leave in separate writes: without TCP_NODELAY the body waits for the
# receiver's delayed ACK.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
SHARD = 8  # connections per client (see `sharded_clients`)


class Reply(Struct, frozen=True, kw_only=True):
    """What one attempt got: a status (None: no answer), a transport error, how long it
    took, the receiver's Retry-After in seconds, and the start of its answer."""

    status: int | None
    error: str | None = None
    duration_ms: float
    retry_after: float | None = None
    answer: str = ""


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def _pinned(url: str, address: str, port: int) -> str:
    """`url` with its host replaced by the checked address."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def sharded_clients(connections: int, **options: Any) -> list[httpx.AsyncClient]:
    """Clients that together keep up to `connections` open, `SHARD` each: httpcore's
    pool looks at every one of its connections for every request, which at 64 in flight
    cost more than the requests themselves (`tidings bench`, push row)."""
    shards = max(1, -(-connections // SHARD))
    limits = httpx.Limits(max_connections=SHARD, max_keepalive_connections=SHARD)
    return [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(socket_options=NODELAY, limits=limits), **options
        )
        for _ in range(shards)
    ]


class HttpDeliverer:
    """POSTs pushes through pooled `httpx.AsyncClient`s (close them with `aclose`)."""

    def __init__(self, guard: AddressGuard, *, max_connections: int = 256) -> None:
        # httpx logs every request's URL at INFO; a receiver's URL may carry a token.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self._guard = guard
        # No proxy from the environment may see our pushes; no redirect is followed.
        self._clients = sharded_clients(max_connections, follow_redirects=False, trust_env=False)
        # Requests under way per client: each request goes to the least busy one, so no
        # pool is asked for more connections than it keeps while another idles.
        self._load = [0] * len(self._clients)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

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

        def took() -> float:
            return round((time.monotonic() - started) * 1000, 3)

        try:
            host, address, port = await self._guard.resolve(url)
        except Refused as refused:
            return Reply(status=None, error=f"refused: {refused}", duration_ms=took())
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        bracketed = f"[{host}]" if ":" in host else host
        host_header = bracketed if port == default_port else f"{bracketed}:{port}"
        request_headers = {**headers, "content-type": content_type, "host": host_header}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        shard = self._load.index(min(self._load))
        self._load[shard] += 1
        try:
            with anyio.fail_after(timeout):
                request = self._clients[shard].stream(
                    "POST",
                    _pinned(url, address, port),
                    content=body,
                    headers=request_headers,
                    timeout=httpx.Timeout(timeout, connect=connect_timeout),
                    extensions=extensions,
                )
                async with request as response:
                    # Read to the end (the connection is kept for the next push), within
                    # the timeout; keep the first KiB.
                    kept = b""
                    async for chunk in response.aiter_bytes():
                        if len(kept) < ANSWER_KEPT:
                            kept += chunk
        except TimeoutError:
            return Reply(status=None, error=f"timed out after {timeout} s", duration_ms=took())
        except httpx.HTTPError as error:
            text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            return Reply(status=None, error=text, duration_ms=took())
        finally:
            self._load[shard] -= 1
        return Reply(
            status=response.status_code,
            duration_ms=took(),
            retry_after=retry_after(response.headers.get("retry-after"), now),
            answer=kept[:ANSWER_KEPT].decode("utf-8", "replace"),
        )
