"""WAPI poll-reqs through the server's ASGI app in-process, for a deterministic count:
`valgrind --tool=callgrind python -m bench.wapi_calls --pairs N`, two runs of different
`--pairs` differenced and divided by twice the difference: instructions per WAPI
request at the edge and on the event loop, without sockets or a load generator.

Each pair is one `poll-req` over `/wapi/xml` and one over `/wapi/json` of one account
with an empty queue (1003), awaited one after the other, with whole ASGI scopes (one
`http.request` message a body). The app is `http.app.create_app` on a fresh SQLite
file, without the due runner, its lifespan started by hand; every log record at INFO
and above goes through the standard library's formatter to `os.devnull` (the access
line included). The garbage collector is
off while the pairs run, so a collection does not land in one run and not the other.
Run the interpreter once before, so both runs load the same compiled modules.

`--cycles N` counts what one request at a time leaves out: 64 clients, each its own
account, run `bench.load`'s poll cycle (ping-async, poll-req, poll-ack of what it
returned) over `/wapi/json` until N requests are answered, the due runner ending the pings
(`ping_delay` 0) and the logs at warnings, as the bench's server. The commands then fall
into batches, and the due runner finds what it finds at each read of the log, so a
thread's count per request moves from run to run by up to 5 per cent: compare several
runs. It prints how many requests were answered (a few past N): with
`--separate-threads=yes`, difference each thread over two runs' requests.
"""

import asyncio
import functools
import gc
import logging
import os
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
import uvloop
from starlette.types import ASGIApp as App
from starlette.types import Message
from tidings.adapters.http.app import create_app
from tidings.adapters.http.context import Settings
from tidings.adapters.http.limits import Limits
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1

from .load import CYCLE_CODES, wapi_document

__all__ = ["CYCLE_CLIENTS", "run_cycles", "run_pairs"]

_LOGIN, _PASSWORD = "tester", "123456"


async def _started(app: App, inbox: asyncio.Queue[Message]) -> asyncio.Task[None]:
    """Run the app's lifespan until its start-up completed; a `lifespan.shutdown` put
    in `inbox` ends the task."""
    inbox.put_nowait({"type": "lifespan.startup"})
    started = asyncio.get_running_loop().create_future()

    async def send(message: Message) -> None:
        if message["type"].startswith("lifespan.startup") and not started.done():
            started.set_result(message["type"])

    async def lifespan() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)

    task = asyncio.create_task(lifespan())
    if await started != "lifespan.startup.complete":
        raise RuntimeError("the app did not start")
    return task


async def _post(
    app: App, path: str, body: bytes, content_type: bytes, answer: list[bytes] | None = None
) -> bytes:
    """POST `body` to `path`; the answer's `x-wapi-code` (its body appended to `answer`)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", content_type),
            (b"content-length", b"%d" % len(body)),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    code = b""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal code
        if message["type"] == "http.response.start":
            code = dict(message["headers"]).get(b"x-wapi-code", b"")
        elif answer is not None:
            answer.append(message["body"])

    await app(scope, receive, send)
    return code


async def run_pairs(pairs: int, db: Path) -> None:
    """Answer `pairs` XML and JSON poll-reqs on a fresh database at `db`; raises
    `RuntimeError` if any answer is not 1003."""
    with Tidings(str(db)) as tidings:
        tidings.open_account(_LOGIN, _PASSWORD)
    token = auth_token(_LOGIN, password_sha1(_PASSWORD), datetime.now(PRAGUE).hour)
    fields = f"<user>{_LOGIN}</user><auth>{token}</auth><command>poll-req</command>"
    xml = f"<request>{fields}<clTRID>c-1</clTRID></request>".encode()
    json = (
        f'{{"request": {{"user": "{_LOGIN}", "auth": "{token}", '
        f'"command": "poll-req", "clTRID": "c-2"}}}}'
    ).encode()
    app: App = create_app(Settings(db=str(db), worker=False))
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    lifespan = await _started(app, inbox)
    codes = {await _post(app, "/wapi/xml", xml, b"text/xml")}  # the first request warms up
    gc.collect()
    gc.disable()
    try:
        for _ in range(pairs):
            codes.add(await _post(app, "/wapi/xml", xml, b"text/xml"))
            codes.add(await _post(app, "/wapi/json", json, b"application/json"))
    finally:
        gc.enable()
    inbox.put_nowait({"type": "lifespan.shutdown"})
    await lifespan
    if codes != {b"1003"}:
        raise RuntimeError(f"answers other than 1003: {sorted(codes)}")


CYCLE_CLIENTS = 64
_decode_answer = msgspec.json.Decoder(dict[str, dict[str, Any]]).decode


async def run_cycles(requests: int, db: Path, clients: int = CYCLE_CLIENTS) -> Counter[bytes]:
    """`clients` accounts run poll cycles on a fresh database at `db` until `requests`
    are answered (after each has made one cycle); how many got each code. Raises
    `RuntimeError` on an answer no cycle gets."""
    with Tidings(str(db)) as tidings:
        logins = [f"cycle-{n}" for n in range(clients)]
        for login in logins:
            tidings.open_account(login, _PASSWORD)
    hour = datetime.now(PRAGUE).hour
    tokens = [auth_token(login, password_sha1(_PASSWORD), hour) for login in logins]
    unbounded = Limits(auth_failures_per_address=10**9, auth_failures_per_login=10**9)
    app: App = create_app(Settings(db=str(db), ping_delay=0.0, limits=unbounded))
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    lifespan = await _started(app, inbox)
    answered = [0]
    codes: Counter[bytes] = Counter()
    post = functools.partial(_post, app, "/wapi/json", content_type=b"application/json")

    async def client(login: str, token: str, until: int) -> None:
        ping = wapi_document(login, token, "ping-async", None)
        poll = wapi_document(login, token, "poll-req", None)
        while True:
            codes[await post(ping)] += 1
            body: list[bytes] = []
            polled = await post(poll, answer=body)
            codes[polled] += 1
            answered[0] += 2
            if polled == b"1000":
                notify = _decode_answer(body[0])["response"]["data"]["notify"]
                ack = wapi_document(login, token, "poll-ack", {"id": str(notify["id"])})
                codes[await post(ack)] += 1
                answered[0] += 1
            if answered[0] >= until:
                return

    try:
        await asyncio.gather(*(client(*pair, 0) for pair in zip(logins, tokens, strict=True)))
        answered[0] = 0
        codes.clear()
        gc.collect()
        await asyncio.gather(
            *(client(*pair, requests) for pair in zip(logins, tokens, strict=True))
        )
    finally:
        inbox.put_nowait({"type": "lifespan.shutdown"})
        await lifespan
    unexpected = sorted(code for code in codes if int(code or 0) not in CYCLE_CODES)
    if unexpected:
        raise RuntimeError(f"answers no poll cycle gets: {unexpected}")
    return codes


def main(
    pairs: Annotated[int, typer.Option(min=0, help="XML and JSON poll-reqs to answer.")] = 300,
    cycles: Annotated[
        int, typer.Option(min=0, help="Instead: requests of 64 clients' poll cycles.")
    ] = 0,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "tidings.db"
        if cycles:
            logging.basicConfig(level=logging.WARNING)
            logging.getLogger("tidings.ledger").setLevel(logging.ERROR)  # unsigned: on purpose
            # uvloop, as the bench's server runs.
            answered = uvloop.run(run_cycles(cycles, db)).total()
            typer.echo(f"{answered} requests answered")
            return
        logging.basicConfig(level=logging.INFO, handlers=[logging.FileHandler(os.devnull)])
        asyncio.run(run_pairs(pairs, db))
    typer.echo(f"{pairs} pairs answered 1003")


if __name__ == "__main__":
    typer.run(main)
