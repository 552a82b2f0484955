"""Calls made while a batch is under way go together in the next one."""

from collections.abc import Sequence

import anyio
import pytest
from tidings.adapters.push.transport import Batched


def test_concurrent_calls_share_batches_and_each_gets_its_own_answer() -> None:
    batches: list[list[int]] = []

    def double(numbers: Sequence[int]) -> list[int]:
        batches.append(list(numbers))
        return [2 * n for n in numbers]

    answers: dict[int, int] = {}

    async def main() -> None:
        batched: Batched[int, int] = Batched(double)

        async def ask(n: int) -> None:
            answers[n] = await batched(n)

        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(ask, n)

    anyio.run(main)
    assert answers == {n: 2 * n for n in range(20)}
    assert sorted(n for batch in batches for n in batch) == list(range(20))
    assert len(batches) < 20  # the ones that waited went together


def test_a_failing_batch_fails_every_caller_in_it() -> None:
    def fail(_: Sequence[int]) -> list[int]:
        raise OSError("disk full")

    async def main() -> None:
        batched: Batched[int, int] = Batched(fail)
        with pytest.raises(OSError, match="disk full"):
            await batched(1)

    anyio.run(main)
