"""Throttling password guessing: failed authentications in a sliding window.

Failures are counted per client address and per login over the last `window` seconds.
An attempt is refused, before its token is even looked at, when

- its address has failed `per_address` times (any login), or
- its login has failed `per_login` times (any address) and this address is one of
  those failures: a guesser cannot lock a legitimate client at another address out.

So one address gets at most `per_address` guesses a window (30 a minute by default),
and a login under attack from many addresses at most `per_login` plus one per further
address. The refusal says when to come back (`retry_after`, whole seconds, when the
oldest failure that counts leaves the window).

An IPv6 client counts as its /64 network: one host usually holds a whole /64, and
would otherwise get a fresh budget from each of its addresses.

The counts live in this process (see ARCHITECTURE.md on several processes); at most
`max_keys` addresses and logins are remembered, the least recently failed forgotten
first, so random logins cannot grow memory without bound. Not thread-safe: the server
calls it from its event loop only.
"""

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TypeVar

import anyio

__all__ = ["AuthGate", "Throttle"]

_T = TypeVar("_T")


class Throttle:
    """Failed authentications per address and per login, in a sliding window.

    `failures` and `refusals` count what happened since start (for metrics)."""

    def __init__(
        self,
        *,
        per_address: int,
        per_login: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.per_address = per_address
        self.per_login = per_login
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._logins: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self.failures = 0
        self.refusals = 0

    def retry_after(self, login: str, address: str | None) -> int | None:
        """None when `address` may try to authenticate as `login` now; else the seconds
        after which it may (and the attempt counts as refused)."""
        now = self._clock()
        since = now - self.window
        waits: list[float] = []
        client = _client(address)
        seen = self._addresses.get(client)
        if seen is not None:
            _drop_before(seen, since)
            if len(seen) >= self.per_address:
                waits.append(seen[-self.per_address] + self.window - now)
        tried = self._logins.get(login)
        if tried is not None:
            while tried and tried[0][0] <= since:
                tried.popleft()
            if len(tried) >= self.per_login:
                mine = [at for at, by in tried if by == client]
                if mine:
                    waits.append(mine[-1] + self.window - now)
        if not waits:
            return None
        self.refusals += 1
        return max(1, math.ceil(max(waits)))

    def failed(self, login: str, address: str | None) -> None:
        """Count one failed authentication of `login` from `address`."""
        now = self._clock()
        self.failures += 1
        key = _client(address)
        # Only the newest failures can refuse anything: older ones need not be kept.
        _remember(self._addresses, key, self._max_keys, self.per_address).append(now)
        _remember(self._logins, login, self._max_keys, 8 * self.per_login).append((now, key))


def _client(address: str | None) -> str:
    """What failures are counted against: the address, an IPv6 one as its /64."""
    if not address or ":" not in address:
        return address or ""
    try:
        network = ipaddress.IPv6Network(f"{address}/64", strict=False)
    except ValueError:
        return address
    mapped = ipaddress.IPv6Address(address).ipv4_mapped
    return str(mapped) if mapped is not None else str(network)


def _remember(table: OrderedDict[str, deque[_T]], key: str, limit: int, keep: int) -> deque[_T]:
    entry = table.get(key)
    if entry is None:
        entry = table[key] = deque(maxlen=keep)
        if len(table) > limit:
            table.popitem(last=False)
    table.move_to_end(key)
    return entry


def _drop_before(times: deque[float], since: float) -> None:
    while times and times[0] <= since:
        times.popleft()


class AuthGate:
    """What every surface does around authentication: ask the throttle first, count a
    failure, and answer every refusal (wrong token, unknown login, throttled) no sooner
    than `floor` seconds after the request came in, so the answer's timing does not tell
    whether a login exists (an unknown login costs a database read, a known one a cache
    hit) nor what the server was doing meanwhile."""

    def __init__(self, throttle: Throttle, floor: float) -> None:
        self.throttle = throttle
        self.floor = floor

    def retry_after(self, login: str, address: str | None) -> int | None:
        return self.throttle.retry_after(login, address)

    async def refused(self, started: float) -> None:
        """Wait until `floor` seconds after `started` (a `time.monotonic()`)."""
        wait = started + self.floor - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)

    async def failed(self, login: str, address: str | None, started: float) -> None:
        """Count a failed authentication, then wait like `refused`."""
        self.throttle.failed(login, address)
        await self.refused(started)
