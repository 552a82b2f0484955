"""Throttling password guessing: failed authentications per client address and per
login, in a sliding window of `window` seconds.

An attempt is refused, before its token is looked at, when its address failed
`per_address` times (any login), or its login failed `per_login` times (any address)
and this address is one of those failures: a guesser elsewhere cannot lock a client
out. An attempt counts as a failure from the moment it passes the check
(`retry_after`), so concurrent guesses cannot overshoot the budget; `passed` takes it
back. An IPv6 client counts as its /64. Called from the event loop only.

One process keeps its failures in memory (`Throttle`, at most `max_keys` addresses and
logins, the least recently failed forgotten first); the workers of one server share
theirs in a SQLite file (`SharedThrottle`: a check is one read, only a failure writes;
guesses in flight on other workers at the same moment are not seen).
"""

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import anyio

from ..logs import event
from ..store.failure_file import FailureFile

__all__ = ["AuthGate", "Guesses", "SharedThrottle", "Throttle", "client_key"]

_T = TypeVar("_T")
_log = logging.getLogger("tidings.auth")
_MOST_TOLD = 100_000  # clients remembered as told about; past it all are forgotten


class Throttle:
    """Failed authentications in memory; `failures` and `refusals` count what happened
    since start (for metrics)."""

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
        # Attempts counted at their check and not yet settled: (login, client) -> times.
        self._open: dict[tuple[str, str], list[float]] = {}
        self.failures = 0
        self.refusals = 0

    def retry_after(self, login: str, address: str | None) -> int | None:
        """None when `address` may try to authenticate as `login` now (the attempt then
        counts as a failure until `passed`); else the seconds after which it may."""
        now = self._clock()
        since = now - self.window
        wait: float | None = None  # the longest of the waits that refuse it
        # `client_key`, without its call for an IPv4 address (the usual one).
        client = address if address and ":" not in address else client_key(address)
        addresses, logins = self._addresses, self._logins
        seen = addresses.get(client)
        if seen is not None:
            while seen and seen[0] <= since:
                seen.popleft()
            if len(seen) >= self.per_address:
                wait = seen[-self.per_address] + self.window - now
        tried = logins.get(login)
        if tried is not None:
            while tried and tried[0][0] <= since:
                tried.popleft()
            if len(tried) >= self.per_login:
                mine = [at for at, by in tried if by == client]
                if mine:
                    ours = mine[-1] + self.window - now
                    wait = ours if wait is None else max(wait, ours)
        if wait is None:
            # `_count`, with the entries found above: a known key only moves to the end.
            if seen is None:
                seen = _remember(addresses, client, self._max_keys, self.per_address)
            else:
                addresses.move_to_end(client)
            seen.append(now)
            if tried is None:
                tried = _remember(logins, login, self._max_keys, 8 * self.per_login)
            else:
                logins.move_to_end(login)
            tried.append((now, client))
            self._open.setdefault((login, client), []).append(now)
            if len(self._open) > self._max_keys:  # a caller that never settled: forget it
                self._open.pop(next(iter(self._open)))
            return None
        self.refusals += 1
        return max(1, math.ceil(wait))

    def failed(self, login: str, address: str | None) -> None:
        """Count one failed authentication (already counted if it passed `retry_after`)."""
        self.failures += 1
        client = client_key(address)
        if not self._settle(login, client):
            self._count(login, client, self._clock())

    def passed(self, login: str, address: str | None) -> None:
        """The attempt that passed `retry_after` authenticated: it is no failure."""
        client = address if address and ":" not in address else client_key(address)
        at = self._settle(login, client)
        if at is None:
            return
        # Either may be gone already, pushed out of the window: `remove` looks once
        # (`in` first would look twice).
        times = self._addresses.get(client)
        if times is not None:
            try:  # noqa: SIM105 (`contextlib.suppress` costs more than the look it saves)
                times.remove(at)
            except ValueError:
                pass
        tried = self._logins.get(login)
        if tried is not None:
            try:  # noqa: SIM105
                tried.remove((at, client))
            except ValueError:
                pass

    def _settle(self, login: str, client: str) -> float | None:
        times = self._open.get((login, client))
        if not times:
            return None
        at = times.pop(0)
        if not times:
            del self._open[(login, client)]
        return at

    def _count(self, login: str, client: str, now: float) -> None:
        # Only the newest failures can refuse anything: older ones need not be kept.
        _remember(self._addresses, client, self._max_keys, self.per_address).append(now)
        _remember(self._logins, login, self._max_keys, 8 * self.per_login).append((now, client))


class SharedThrottle:
    """`Throttle`'s rule over the failures in the SQLite file `path`, shared by every
    process that opens it; `clock`: seconds on a clock all of them share."""

    def __init__(
        self,
        path: Path,
        *,
        per_address: int,
        per_login: int,
        window: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_address = per_address
        self.per_login = per_login
        self.window = window
        self._clock = clock
        self._file = FailureFile(path)  # called from the event loop only
        self._held: list[tuple[str, str]] = []  # (login, client) let through, not yet settled
        self.failures = 0
        self.refusals = 0

    def retry_after(self, login: str, address: str | None) -> int | None:
        client = client_key(address)
        now = self._clock()
        since = now - self.window
        waits: list[float] = []
        mine = self._file.of_client(client, since, self.per_address)
        if len(mine) + sum(by == client for _, by in self._held) >= self.per_address:
            full = len(mine) == self.per_address
            waits.append(mine[-1] + self.window - now if full else 1.0)
        count, last = self._file.of_login(login, client, since)
        held = [by for name, by in self._held if name == login]
        if count + len(held) >= self.per_login and (last is not None or client in held):
            waits.append(last + self.window - now if last is not None else 1.0)
        if waits:
            self.refusals += 1
            return max(1, math.ceil(max(waits)))
        self._held.append((login, client))
        return None

    def failed(self, login: str, address: str | None) -> None:
        self.failures += 1
        client = client_key(address)
        self._settle(login, client)
        now = self._clock()
        self._file.add(now, client, login, forget_before=now - self.window)

    def passed(self, login: str, address: str | None) -> None:
        self._settle(login, client_key(address))

    def _settle(self, login: str, client: str) -> None:
        if (login, client) in self._held:
            self._held.remove((login, client))


def client_key(address: str | None) -> str:
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


def _shown(login: str) -> str:
    # The admin token's failures are counted under a name no account can have.
    return "(admin token)" if login.startswith("\0") else login


class Guesses(Protocol):
    """What the gate asks of a throttle (`Throttle`, `SharedThrottle`)."""

    failures: int
    refusals: int

    def retry_after(self, login: str, address: str | None) -> int | None: ...
    def failed(self, login: str, address: str | None) -> None: ...
    def passed(self, login: str, address: str | None) -> None: ...


class AuthGate:
    """What every surface does around authentication: ask the throttle first, count a
    failure, and answer every refusal no sooner than `floor` seconds after the request
    came in (timing does not tell whether a login exists); logged on `tidings.auth`."""

    def __init__(self, throttle: Guesses, floor: float) -> None:
        self.throttle = throttle
        self.floor = floor
        self._told: dict[tuple[str, str], float] = {}  # (login, client) -> throttled until
        # The throttle's own method: the gate adds nothing to it, not even a call.
        self.passed: Callable[[str, str | None], None] = throttle.passed

    def retry_after(self, login: str, address: str | None) -> int | None:
        """The throttle's answer (`Throttle.retry_after`)."""
        wait = self.throttle.retry_after(login, address)
        if wait is not None:
            now, key = time.monotonic(), (login, client_key(address))
            if self._told.get(key, 0.0) <= now:
                if len(self._told) > _MOST_TOLD:
                    self._told.clear()
                self._told[key] = now + wait
                event(_log, logging.WARNING, "client_throttled", login=_shown(login),
                      client=address, retry_after=wait)  # fmt: skip
        return wait

    async def refused(self, started: float) -> None:
        """Wait until `floor` seconds after `started` (a `time.monotonic()`)."""
        wait = started + self.floor - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)

    async def failed(self, login: str, address: str | None, started: float) -> None:
        """Count a failed authentication, then wait like `refused`."""
        self.throttle.failed(login, address)
        event(_log, logging.WARNING, "authentication_refused", login=_shown(login),
              client=address)  # fmt: skip
        await self.refused(started)
