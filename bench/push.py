"""The `push` rows of `python -m bench`: deliveries per second to a local receiver.

tidings (the due-work runner: a claim and a record saved per attempt, signed WAPI form
bodies, the address guard) beside a bare `httpx.AsyncClient` loop posting the same
bodies with the same headers to the same receiver, in the same run: the loop is the
limit, what HTTP alone costs here (both through clients of one connection each). Both
keep `IN_FLIGHT` requests going, and each row states its CPU time per delivery. The
receiver is a minimal asyncio HTTP/1.1 server in a process of its own, answering 200 at
once, so it takes no CPU from the process measured.
"""

import asyncio
import multiprocessing
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
from tidings.adapters.library import Tidings
from tidings.adapters.push.due import DueWork
from tidings.adapters.push.payload import http_body, signed_headers, webhook_id
from tidings.adapters.push.transport import ALLOW_ENV, single_connection_clients
from tidings.domain import RetryPolicy, UrlChannel

from .results import COMMAND, RESULT_TEXT, Result

__all__ = ["IN_FLIGHT", "measure_push"]

IN_FLIGHT = 64
_LOGIN = "bench-push"
_REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(_REPLY)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _receive(port: "multiprocessing.sharedctypes.Synchronized[int]") -> None:
    async def main() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=1024)
        port.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(main())


def _deliver_with_tidings(
    db: Path, url: str, size: int
) -> tuple[tuple[float, float], list[tuple[str, bytes, dict[str, str]]]]:
    """Seconds (wall, CPU) the runner took to deliver `size` notifications, and what it
    sent (for the bare loop to send the same)."""
    with Tidings(str(db)) as t:
        channel = UrlChannel(success_url=url, pause_after=1_000_000)
        account = t.open_account(
            _LOGIN, "bench-password", channel=channel, retry_policy=RetryPolicy()
        )
        sent = []
        for _ in range(size):
            notification = t.end(t.accept(_LOGIN, "bench", COMMAND).svtrid, 1000, RESULT_TEXT)
            content_type, body = http_body(notification, "wapi-form")
            headers = signed_headers(
                webhook_id(_LOGIN, notification.id), body, datetime.now(UTC), account.signing_secret
            )
            sent.append((content_type, body, headers))
        runner = DueWork(t, in_flight=IN_FLIGHT)

        async def main() -> tuple[float, float]:
            started, started_cpu = time.perf_counter(), time.process_time()
            async with anyio.create_task_group() as group:
                await group.start(runner.run)
                while runner.delivered < size:
                    await anyio.sleep(0.005)
                group.cancel_scope.cancel()
            return time.perf_counter() - started, time.process_time() - started_cpu

        return anyio.run(main), sent


async def _bare_loop(
    url: str, sent: list[tuple[str, bytes, dict[str, str]]]
) -> tuple[float, float]:
    """`IN_FLIGHT` tasks posting the bodies, each through a client of one connection as
    the runner's are (see `adapters.push.transport`)."""
    clients = single_connection_clients(IN_FLIGHT, trust_env=False)
    bodies = iter(sent)

    async def post_all(client: httpx.AsyncClient) -> None:
        for content_type, body, headers in bodies:
            response = await client.post(
                url, content=body, headers={**headers, "content-type": content_type}
            )
            assert response.status_code == 200

    started, started_cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as group:
        for client in clients:
            group.start_soon(post_all, client)
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    for client in clients:
        await client.aclose()
    return seconds, cpu


def measure_push(directory: Path, size: int) -> list[Result]:
    """The push rows: tidings' runner and the bare httpx loop, `IN_FLIGHT` at once, each
    with its CPU time per delivery (this process's, all threads; the receiver's apart)."""
    os.environ.setdefault(ALLOW_ENV, "127.0.0.1/32")  # the receiver is on loopback
    port = multiprocessing.get_context("spawn").Value("i", 0)
    receiver = multiprocessing.get_context("spawn").Process(target=_receive, args=(port,))
    receiver.start()
    try:
        deadline = time.monotonic() + 30
        while port.value == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port.value}/hook"
        ours, sent = _deliver_with_tidings(directory / "push.db", url, size)
        bare = anyio.run(_bare_loop, url, sent)
    finally:
        receiver.terminate()
        receiver.join(10)
    return [
        Result(
            scenario="push",
            subject=subject,
            durability="equal",
            ops_per_s=size / seconds,
            ops=size,
            seconds=seconds,
            clients=IN_FLIGHT,
            cpu_us=cpu / size * 1e6,
        )
        for subject, (seconds, cpu) in (("tidings", ours), ("httpx", bare))
    ]
