"""Reading request bodies with a size cap and a deadline, and who sent them."""

import asyncio
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request

__all__ = [
    "BodyTooSlow",
    "ClientGone",
    "Deadlines",
    "Reading",
    "TooLarge",
    "Unfinished",
    "client_ip",
    "is_text",
    "read_body",
]


class TooLarge(Exception):
    """The body is larger than the cap; reading stopped at the cap."""


class Unfinished(Exception):
    """The body did not arrive whole: no result code (`limits.settle_unfinished`)."""


class ClientGone(Unfinished):
    pass


class BodyTooSlow(Unfinished):
    pass


async def read_body(request: Request, cap: int) -> bytes:
    """The whole body; `TooLarge` as soon as it (or its Content-Length) passes `cap`
    bytes, `ClientGone` when the client hangs up first."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise TooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


def is_text(*values: str) -> bool:
    """Whether every value is text UTF-8 can carry (no lone surrogates)."""
    try:
        for value in values:
            value.encode()
    except UnicodeEncodeError:
        return False
    return True


def client_ip(request: Request) -> str | None:
    """The peer address (uvicorn applied proxy headers only from `--trusted-proxies`)."""
    return request.client.host if request.client else None


class Reading(msgspec.Struct, gc=False):
    """A body being read: `expired` once its time ran out (its task was cancelled then);
    `task` None once it is read (or expired)."""

    at: float
    task: "asyncio.Task[Any] | None"
    expired: bool = False


# Seconds a deadline may be early: a loop timer fires on the loop's clock, in milliseconds.
_SLACK = 0.001


class _Queue:
    """The bodies being read on one event loop, oldest first, and the loop's one timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # By `id`, in the order they started; a body read leaves at once, wherever it is.
        self.waiting: dict[int, Reading] = {}
        self.timer: asyncio.TimerHandle | None = None

    def expire(self) -> None:
        self.timer = None
        waiting, now = self.waiting, self.loop.time()
        due: list[Reading] = []
        for oldest in waiting.values():
            if oldest.at - now > _SLACK:
                self.timer = self.loop.call_at(oldest.at, self.expire)
                break
            due.append(oldest)
        for reading in due:
            del waiting[id(reading)]
            if reading.task is not None:  # not read (one read on another loop's turn is)
                reading.expired = True
                reading.task.cancel()
                reading.task = None


class Deadlines:
    """The body deadline of every request of one route: `timeout` seconds from `start`
    to `done`, past which the reading task is cancelled; one timer on the loop for all."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: _Queue | None = None

    def start(self) -> Reading:
        """The deadline of the body the current task starts reading now."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        if queue is None or queue.loop is not loop:
            # A loop of its own (tests run one app on several loops): the queue of another
            # loop keeps expiring what it holds, on that loop.
            queue = self._queue = _Queue(loop)
        task = asyncio.current_task(loop)
        assert task is not None
        reading = Reading(loop.time() + self.timeout, task)
        queue.waiting[id(reading)] = reading
        if queue.timer is None:
            queue.timer = loop.call_at(reading.at, queue.expire)
        return reading

    def done(self, reading: Reading) -> None:
        reading.task = None
        if self._queue is not None:  # a body of another loop's queue is not in this one
            self._queue.waiting.pop(id(reading), None)

    @property
    def reading(self) -> int:
        """How many bodies are being read on the loop last started on."""
        return 0 if self._queue is None else len(self._queue.waiting)
