"""The body deadlines of one route share one timer a loop (`body.Deadlines`): a body not
read in time has its task cancelled and is marked expired, one read in time is not, on
every loop the route runs on."""

import asyncio

import uvloop
from tidings.adapters.http.body import Deadlines


async def _reads(deadlines: Deadlines) -> list[bool]:
    """Two bodies read at once and two that never arrive, started in turn: which expired."""
    never = asyncio.Event()

    async def stuck() -> bool:
        reading = deadlines.start()
        try:
            await never.wait()
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return reading.expired
        finally:
            deadlines.done(reading)
        return False

    async def read() -> bool:
        reading = deadlines.start()
        await asyncio.sleep(0)
        deadlines.done(reading)
        return reading.expired

    return list(await asyncio.gather(read(), stuck(), read(), stuck()))


def test_only_the_bodies_not_read_in_time_expire_on_every_loop() -> None:
    deadlines = Deadlines(0.05)
    assert asyncio.run(_reads(deadlines)) == [False, True, False, True]
    assert uvloop.run(_reads(deadlines)) == [False, True, False, True]
    assert asyncio.run(_reads(deadlines)) == [False, True, False, True]
    assert deadlines.reading == 0


async def _held(deadlines: Deadlines, count: int) -> tuple[int, int, int]:
    """What is held while one body is slow and `count` others are read behind it, once
    they are read, and once the slow one is read too."""
    arrived = asyncio.Event()

    async def slow() -> None:
        reading = deadlines.start()
        try:
            await arrived.wait()
        finally:
            deadlines.done(reading)

    slowly = asyncio.create_task(slow())
    await asyncio.sleep(0)  # it starts reading first
    during = []
    for _ in range(count):
        reading = deadlines.start()
        during.append(deadlines.reading)
        deadlines.done(reading)
    after = deadlines.reading
    arrived.set()
    await slowly
    return max(during), after, deadlines.reading


def test_a_body_read_is_let_go_at_once_even_behind_a_slow_one() -> None:
    deadlines = Deadlines(30.0)  # far off: nothing expires meanwhile
    assert asyncio.run(_held(deadlines, 10_000)) == (2, 1, 0)
