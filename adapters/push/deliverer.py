"""The HTTP deliverer: one POST of one notification, with httpx.

It connects to the address the guard checked (the Host header and TLS name stay the
URL's), follows no redirect, and bounds the whole attempt by the account's timeout. It
reports what happened (`Reply`) and decides nothing: whether that was a success, and
when to try again, is the domain's call.
"""

import logging
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
from msgspec import Struct

from .transport import AddressGuard, Connections, Refused

__all__ = ["ANSWER_KEPT", "HttpDeliverer", "Reply", "retry_after"]

# Bytes of a receiver's answer kept in the log with the attempt.
ANSWER_KEPT = 1024


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
    if value.isascii() and value.isdigit():  # "²".isdigit() too, which float() refuses
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


class HttpDeliverer:
    """POSTs pushes through up to `max_connections` connections (see `connections`;
    close them with `aclose`)."""

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
        pinned = _pinned(url, address, port)
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
            self._connections.give_back(chosen, place)
        return Reply(
            status=response.status_code,
            duration_ms=took(),
            retry_after=retry_after(response.headers.get("retry-after"), now),
            answer=kept[:ANSWER_KEPT].decode("utf-8", "replace"),
        )
