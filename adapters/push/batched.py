"""Calls from many tasks, made as one call in a worker thread.

The runner's workers record their attempts and claim their next through the library,
which is synchronous: a thread hop each, and a command each in the group commit. Tasks
that call while a batch is under way are collected and sent together in the next, so 64
attempts in flight cost a few thread hops and transactions, not 64 (the bench's push
row shows it).
"""

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio

__all__ = ["Batched"]

A = TypeVar("A")
R = TypeVar("R")


class _Call(Generic[A, R]):
    __slots__ = ("argument", "done", "error", "result")

    def __init__(self, argument: A) -> None:
        self.argument = argument
        self.done = anyio.Event()
        self.result: R | None = None
        self.error: BaseException | None = None


class Batched(Generic[A, R]):
    """`await batched(argument)` answers `run([... argument ...])`'s result for it.
    `run` takes a batch and answers one result per argument, in order; what it raises
    is raised to every caller of the batch."""

    def __init__(self, run: Callable[[Sequence[A]], Sequence[R]]) -> None:
        self._run = run
        self._waiting: list[_Call[A, R]] = []
        self._running = False

    async def __call__(self, argument: A) -> R:
        call: _Call[A, R] = _Call(argument)
        self._waiting.append(call)
        if not self._running:
            self._running = True
            try:
                while self._waiting:  # lead until nobody waits: ours went in the first
                    batch, self._waiting = self._waiting, []
                    await self._send(batch)
            finally:
                self._running = False
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    async def _send(self, batch: list[_Call[A, R]]) -> None:
        try:
            results = await anyio.to_thread.run_sync(self._run, [c.argument for c in batch])
            for call, result in zip(batch, results, strict=True):
                call.result = result
        except Exception as error:
            for call in batch:
                call.error = error
        finally:
            for call in batch:
                call.done.set()
