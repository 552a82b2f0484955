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
