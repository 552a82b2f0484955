"""A worker killed in the middle of a burst loses nothing: its claims run out and a live
worker takes them over, without a restart; two workers never make one attempt at once."""

import itertools
import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import urlsplit

import psycopg
import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.push.payload import webhook_id
from tidings.domain import RetryPolicy, UrlChannel
from tidings.domain.delivery import (
    AttemptExpired,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
)

from tests.conftest import POSTGRES, postgres_schema
from tests.http.conftest import wait_until
from tests.push.conftest import Receiver

BURST = 200


@pytest.fixture
def postgres() -> Iterator[str]:
    yield from postgres_schema()


def worker(db: str, in_flight: int = 4) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TIDINGS_PUSH_ALLOW": "127.0.0.1/32"}
    run = "from tidings.cli.app import main; main()"
    command = [sys.executable, "-c", run, "worker", "--db", db, "--in-flight", str(in_flight)]
    return subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)


def claims_by(t: Tidings, pid: int) -> bool:
    return any(
        isinstance(e.event, AttemptStarted) and e.event.claimant.split(":")[1] == str(pid)
        for e in t.log()
    )


def holds_a_claim(t: Tidings, pid: int) -> bool:
    """Whether `pid` claimed an attempt that nothing has closed yet (no outcome, no expiry)."""
    open_claims: dict[object, bool] = {}
    for e in t.log():
        if isinstance(e.event, AttemptStarted):
            open_claims[e.stream] = e.event.claimant.split(":")[1] == str(pid)
        elif isinstance(e.event, AttemptSucceeded | AttemptFailed | AttemptExpired):
            open_claims[e.stream] = False
    return any(open_claims.values())


def _tcp() -> list[tuple[int, int, int, str]]:
    """The machine's TCP sockets: (local port, remote port, bytes received and not yet
    read by their process, inode)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in itertools.islice(lines, 1, None):
                fields = line.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
                rows.append((local, remote, int(fields[4].split(":")[1], 16), fields[9]))
    return rows


def all_it_sent_ran(pid: int) -> bool:
    """Whether PostgreSQL has run everything the stopped process `pid` sent it: its
    backends have read every byte from their sockets and none is running a statement.
    A COMMIT sent just before the stop would otherwise close a claim after we looked."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    server = urlsplit(POSTGRES).port or 5432
    rows = _tcp()
    ports = [local for local, remote, _, inode in rows if inode in inodes and remote == server]
    if any(unread for local, remote, unread, _ in rows if local == server and remote in ports):
        return False
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        running = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE client_port = ANY(%s) AND state = 'active'",
            (ports,),
        ).fetchone()
    return running == (0,)


def freeze_holding_a_claim(t: Tidings, process: subprocess.Popen[bytes]) -> bool:
    """Stop `process`; keep it stopped only if it holds an open claim (so that a kill now
    strands one), else let it run on. Frozen, it cannot close the claim under our eyes
    once what it had sent has run."""
    process.send_signal(signal.SIGSTOP)
    wait_until(lambda: all_it_sent_ran(process.pid), what="the stopped worker's statements")
    if holds_a_claim(t, process.pid):
        return True
    process.send_signal(signal.SIGCONT)
    return False


def test_a_killed_worker_strands_nothing(postgres: str, receiver: Receiver) -> None:
    with Tidings(postgres) as t:
        # A 1 s attempt timeout: a claim's lease runs out 2 s after it was taken.
        channel = UrlChannel(success_url=receiver.url("/slow"), connect_timeout=0.5, timeout=1.0)
        policy = RetryPolicy(schedule=(0.1,) * 5, jitter=0.0)
        t.open_account("burst", "123456", channel=channel, retry_policy=policy)
        for _ in range(BURST):
            t.end(t.accept("burst", "c", "ping-async").svtrid, 1000, "OK")
        # The doomed worker is slow (2 in flight, 50 ms each): while the survivor starts,
        # it cannot finish the burst, so it is killed with work in hand.
        doomed = worker(postgres, in_flight=2)
        wait_until(lambda: len(receiver.requests) >= 10, what="the burst to start")
        survivor = worker(postgres)
        try:
            wait_until(lambda: claims_by(t, survivor.pid), what="the second worker to claim")
            assert len(receiver.requests) < BURST - 20, "the burst ended before the kill"
            wait_until(lambda: freeze_holding_a_claim(t, doomed), what="a claim to strand")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
            done = wait_until(
                lambda: all(d.status == "succeeded" for d in t.deliveries("burst")),
                timeout=30,
                what="the survivor to deliver everything",
            )
            assert done
            restarted = worker(postgres)  # a restart finds nothing left to do
            wait_until(lambda: restarted.poll() is None, what="the restarted worker")
        finally:
            for process in (doomed, survivor):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(15)
            if "restarted" in locals():
                restarted.send_signal(signal.SIGTERM)
                restarted.wait(15)
        entries = list(t.log())

    # Every notification reached the receiver at least once, under its own webhook-id.
    by_id: dict[int, list[str]] = defaultdict(list)
    for request in receiver.requests:
        found = re.search(rb"%3CID%3E(\d+)%3C%2FID%3E", request.body)
        assert found is not None
        by_id[int(found[1])].append(request.headers["webhook-id"])
    assert sorted(by_id) == list(range(1, BURST + 1))
    for n, ids in by_id.items():
        assert set(ids) == {webhook_id("burst", n)}

    # The kill left claims behind, and they were taken over once their lease ran out.
    claimants = {e.event.claimant for e in entries if isinstance(e.event, AttemptStarted)}
    assert len(claimants) == 2
    assert any(isinstance(e.event, AttemptExpired) for e in entries)
    # No attempt was claimed twice, and no two requests of one notification overlapped.
    claims = [(e.stream, e.event.number) for e in entries if isinstance(e.event, AttemptStarted)]
    assert len(claims) == len(set(claims))
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for request in receiver.requests:
        spans[request.headers["webhook-id"]].append((request.started, request.ended))
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, "two attempts of one notification ran at once"
