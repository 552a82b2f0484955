"""`tidings demo`: one run of the main job, on this machine, with nothing to set up.

A temporary SQLite file, the server, a URL receiver and an SMTP sink, each on a free
127.0.0.1 port. Four accounts (poll, URL, e-mail, and a Merchants shop taking JobResult
documents) each start an operation through the real HTTP endpoints; the demo shows each
notification arriving (a push's Standard Webhooks signature checked by the receiver),
polls and acks the poll account's, and prints one trail.
"""

import os
import queue
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from tidings.adapters.http.app import Settings, create_app
from tidings.adapters.http.context import ADMIN_TOKEN_ENV, token_digest
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1

from ..options import examples
from ..output import fail
from ..running import check_environment
from ..trail import timeline
from .receivers import Arrival, UrlReceiver, smtp_sink
from .servers import serving

__all__ = ["ARRIVAL_SECONDS", "demo_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

# How long the demo waits for every notification to arrive.
ARRIVAL_SECONDS = 30.0
PASSWORD = "demo-password"
_DELAY = 0.5  # seconds until a ping-async or a job ends
_JOB = '<Product MerchantSKU="demo-1"><Price><SellingPrice>22</SellingPrice></Price></Product>'


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in the environment (what the server's push reads) while the block runs."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _channels(hooks: str) -> dict[str, dict[str, Any]]:
    """The demo's accounts and their channels, as the JSON API takes them."""
    return {
        "demo-poll": {"type": "poll"},
        "demo-url": {"type": "url", "success_url": f"{hooks}/hook/demo-url"},
        "demo-mail": {"type": "email", "address": "demo-mail@example.com"},
        "demo-shop": {"type": "url", "success_url": f"{hooks}/hook/demo-shop",
                      "error_url": f"{hooks}/hook/demo-shop", "body_format": "jobresult"},
    }  # fmt: skip


class _Run:
    """One demo: the server's client, what it printed, what has arrived."""

    def __init__(self, client: httpx.Client, out: Console, admin: str) -> None:
        self.client = client
        self.out = out
        self.admin = {"authorization": f"Bearer {admin}"}
        self.svtrids: dict[str, str] = {}

    def open_accounts(self, channels: dict[str, dict[str, Any]], receiver: UrlReceiver) -> None:
        for login, channel in channels.items():
            body = {"login": login, "password": PASSWORD, "channel": channel}
            answer = self.client.post("/api/accounts", json=body, headers=self.admin)
            if answer.status_code != 201:
                raise fail(f"opening {login} failed: {answer.text}")
            receiver.secrets[login] = answer.json()["signing_secret"]
            self.out.print(f"account  {login:<10} {channel['type']}"
                           f"{' (JobResult)' if channel.get('body_format') else ''}")  # fmt: skip

    def wapi(self, login: str, command: str, **data: Any) -> dict[str, Any]:
        hour = datetime.now(PRAGUE).hour
        request: dict[str, Any] = {"user": login, "command": command,
                                   "auth": auth_token(login, password_sha1(PASSWORD), hour),
                                   "clTRID": f"{login}-{command}"}  # fmt: skip
        if data:
            request["data"] = data
        answer: dict[str, Any] = self.client.post("/wapi/json", json={"request": request}).json()[
            "response"
        ]
        return answer

    def start(self, logins: list[str]) -> None:
        for login in logins:
            answer = self.wapi(login, "ping-async")
            self.svtrids[login] = answer["svTRID"]
            self.out.print(f"sent     {login:<10} ping-async -> {answer['code']} "
                           f"{answer['result']}, svTRID {answer['svTRID']}")  # fmt: skip

    def start_job(self, login: str) -> None:
        headers = {"x-ApplicationId": login, "x-Token": PASSWORD,
                   "content-type": "application/xml"}  # fmt: skip
        answer = self.client.post("/merchants/products", content=_JOB, headers=headers)
        job = re.search(r"<Id>([^<]+)</Id>", answer.text)
        if answer.status_code != 202 or job is None:
            raise fail(f"the Merchants job was refused: {answer.status_code} {answer.text}")
        self.svtrids[login] = job[1]
        self.out.print(f"sent     {login:<10} PUT a product (Merchants) -> {answer.status_code}, "
                       f"job {job[1]}")  # fmt: skip

    def poll_and_ack(self, login: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            answer = self.wapi(login, "poll-req")
            if answer["code"] == 1000:
                notify = answer["data"]["notify"]
                self.out.print(f"arrived  {login:<10} by poll: notification {notify['id']}, "
                               f"{notify['code']} {notify['result']} for svTRID "
                               f"{notify['svTRID']}")  # fmt: skip
                acked = self.wapi(login, "poll-ack", id=notify["id"])
                self.out.print(f"acked    {login:<10} poll-ack {notify['id']} -> "
                               f"{acked['code']} {acked['result']}")  # fmt: skip
                return True
            time.sleep(0.1)
        return False

    def pushed(self, arrivals: "queue.Queue[Arrival]", expected: set[tuple[str, str]],
               deadline: float) -> set[tuple[str, str]]:  # fmt: skip
        """What of `expected` (channel, login) arrived before `deadline`."""
        seen: set[tuple[str, str]] = set()
        while seen != expected and time.monotonic() < deadline:
            try:
                arrival = arrivals.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            seen.add((arrival.channel, arrival.login))
            signature = {True: ", signature verified", False: ", BAD SIGNATURE", None: ""}
            excerpt = " ".join(arrival.body.split())[:70]
            self.out.print(f"arrived  {arrival.login:<10} by {arrival.channel} "
                           f"({arrival.content_type}){signature[arrival.verified]}: "
                           f"{excerpt}")  # fmt: skip
        return seen & expected


@commands.command("demo", epilog=examples("tidings demo", "tidings demo --keep"))
def demo_command(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave it all running and say how to drive it.")
    ] = False,
) -> None:
    """Run a notification round trip, end to end, on this machine: a temporary database,
    the server, a URL receiver and an SMTP sink on free 127.0.0.1 ports; a poll, a URL,
    an e-mail account and a Merchants shop each get a notification, and the demo shows
    it arriving."""
    out = Console(highlight=False, soft_wrap=True)
    admin = secrets.token_urlsafe(16)
    arrivals: queue.Queue[Arrival] = queue.Queue()
    receiver = UrlReceiver(arrivals)
    with ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="tidings-demo-"))
        db = os.path.join(directory, "tidings.db")
        smtp = stack.enter_context(smtp_sink(arrivals))
        hooks = stack.enter_context(serving(receiver.app))
        stack.enter_context(_environment({
            "TIDINGS_PUSH_ALLOW": "127.0.0.1/32",  # the receiver is on this machine
            "TIDINGS_SMTP_URL": f"smtp://{smtp}",
            "TIDINGS_SMTP_FROM": "tidings-demo@example.com",
        }))  # fmt: skip
        check_environment()  # the key files it inherits (TIDINGS_SIGNING_KEY...), as serve
        settings = Settings(db=db, admin_digest=token_digest(admin), ping_delay=_DELAY,
                            job_delay=_DELAY)  # fmt: skip
        server = stack.enter_context(serving(create_app(settings)))
        client = stack.enter_context(httpx.Client(base_url=server, timeout=30))
        out.print(f"database {db}\nserver   {server}\nreceiver {hooks}/hook/LOGIN\n"
                  f"smtp     {smtp}")  # fmt: skip
        run = _Run(client, out, admin)
        run.open_accounts(_channels(hooks), receiver)
        run.start(["demo-poll", "demo-url", "demo-mail"])
        run.start_job("demo-shop")
        deadline = time.monotonic() + ARRIVAL_SECONDS
        polled = run.poll_and_ack("demo-poll", deadline)
        expected = {("url", "demo-url"), ("email", "demo-mail"), ("url", "demo-shop")}
        missing = sorted(expected - run.pushed(arrivals, expected, deadline))
        if not polled:
            missing.insert(0, ("poll", "demo-poll"))
        with Tidings(db) as tidings:
            # The receiver answers before the attempt is recorded: wait for the record.
            while (
                tidings.delivery("demo-url", 1).status != "succeeded"
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            trail = tidings.trail(run.svtrids["demo-url"])
            operator = tidings.add_operator("demo") if keep else ""
        out.print(timeline(trail, f"tidings trail {run.svtrids['demo-url']} (demo-url)"))
        if keep:
            with _ended_by_a_signal() as ended:
                _drive(out, db, server, admin)
                _pages(out, server, operator)
                ended.wait()
    for channel, login in missing:
        typer.echo(f"error: no notification arrived by {channel} for {login} in "
                   f"{ARRIVAL_SECONDS:g} s", err=True)  # fmt: skip
    if missing:
        raise typer.Exit(1)
    out.print("every notification arrived")


def _drive(out: Console, db: str, server: str, admin: str) -> None:
    """How to drive the running demo from another shell: a ping-async of your own on the
    URL account, then its trail."""
    digest = password_sha1(PASSWORD)
    me = _program()
    out.print(f"""
Still running (Ctrl-C stops it all and deletes the database). In another shell:
  export TIDINGS_DB={db} {ADMIN_TOKEN_ENV}={admin}
  AUTH=$(printf %s "demo-url{digest}$(TZ=Europe/Prague date +%H)" | sha1sum | cut -d' ' -f1)
  curl -s {server}/wapi/xml --data-urlencode \\
    "request=<request><user>demo-url</user><auth>$AUTH</auth><command>ping-async</command><clTRID>mine-1</clTRID></request>"
  {me} trail --cltrid mine-1      # a second later: accepted, ended, pushed, delivered
  {me} queue demo-poll; {me} deliveries; {me} stats; {me} log --follow --jsonl
  curl -s {server}/api/accounts -H "authorization: Bearer ${ADMIN_TOKEN_ENV}"
  curl -s {server}/metrics -H "authorization: Bearer ${ADMIN_TOKEN_ENV}"
Every account's password is {PASSWORD}.""")


def _pages(out: Console, server: str, operator: str) -> None:
    """Where the web pages are, and how to sign in to them."""
    out.print(f"""
In a browser:
  customer center  {server}/center/   login demo-url (or demo-poll, ...), password {PASSWORD}
  operator console {server}/console/  operator token {operator}
  API reference    {server}/docs""")


def _program() -> str:
    """How the other shell runs this program: `tidings` when that is on its PATH, else
    the path it was started by (`.venv/bin/tidings` in a fresh clone)."""
    started = shutil.which(sys.argv[0]) or sys.argv[0]
    found = shutil.which("tidings")
    if found and os.path.realpath(found) == os.path.realpath(started):
        return "tidings"
    return shlex.quote(started)


@contextmanager
def _ended_by_a_signal() -> Iterator[threading.Event]:
    """An event set by Ctrl-C, SIGTERM or SIGHUP (a closed terminal) while the block
    runs: each ends the demo alike, its servers stopped and its database deleted."""
    ended = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {number: signal.signal(number, lambda *_: ended.set()) for number in signals}
    try:
        yield ended
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
