"""How long `redeliver(login)` of an account with a long history holds up the other
writers: `python -m bench.redeliver [--notifications N] [--db PATH]`, what the entry of
docs/decisions.md ("Delivery") re-measures.

Fills a push account with N notifications (one in a thousand given up, the rest
delivered; a kept `--db` is filled once and copied for each run), then times the
redeliver of all that gave up while another thread accepts on another account, one
command after another: the redeliver's wall and process CPU seconds, and the longest
and the median of those accepts.
"""

import asyncio
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from tidings.adapters import Tidings, UrlChannel
from tidings.adapters.push.views import Attempted, Claim, Reply

__all__ = ["redeliver_hold"]


async def _ended(t: Tidings, first: int, count: int) -> list[int]:
    async def one(i: int) -> int:
        pending = await t.accept_async("shop", f"c-{i}", "ping-async")
        return (await t.end_async(pending.svtrid, 1000, "OK")).id

    return await asyncio.gather(*(one(i) for i in range(first, first + count)))


def _fill(path: str, notifications: int) -> None:
    with Tidings(path) as t:
        t.open_account("shop", "123456", channel=UrlChannel(success_url="https://shop.example/n"))
        t.open_account("other", "123456")
        for first in range(0, notifications, 500):
            ids = asyncio.run(_ended(t, first, min(500, notifications - first)))
            claims = t.settle_attempts([], [("shop", n) for n in ids], claimant="bench")[1]
            t.settle_attempts(
                [
                    Attempted(
                        login="shop",
                        notification_id=n,
                        number=claim.number,
                        reply=Reply(status=410 if n % 1000 == 7 else 200, duration_ms=1.0),
                        jitter=0,
                    )
                    for n, claim in zip(ids, claims, strict=True)
                    if isinstance(claim, Claim)
                ],
                [],
                claimant="bench",
            )


def redeliver_hold(
    notifications: Annotated[int, typer.Option(min=1, help="Notifications.")] = 100_000,
    db: Annotated[str | None, typer.Option(help="A SQLite file, filled if absent.")] = None,
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        filled = db or str(Path(scratch) / "filled.db")
        if not Path(filled).exists():
            _fill(filled, notifications)
        run = shutil.copy(filled, Path(scratch) / "run.db")
        waits: list[float] = []
        done = threading.Event()
        with Tidings(str(run)) as t:

            def accepting() -> None:
                while not done.is_set():
                    start = time.perf_counter()
                    t.accept("other", f"x-{len(waits)}", "ping-async")
                    waits.append(time.perf_counter() - start)

            other = threading.Thread(target=accepting)
            cpu, wall = time.process_time(), time.perf_counter()
            other.start()
            sent = t.redeliver("shop")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            done.set()
            other.join()
    waits.sort()
    typer.echo(
        f"{notifications} notifications, {len(sent)} sent again: {wall:.3f} s wall, "
        f"{cpu:.3f} s CPU (both threads); {len(waits)} accepts meanwhile, the longest "
        f"{waits[-1] * 1000:.1f} ms, the median {waits[len(waits) // 2] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    typer.run(redeliver_hold)
