"""What `python -m bench` measures and reports: results, our durability, the targets.

Every subject runs on a fresh SQLite file. `durability` says how: `"default"` is what
the subject's users get out of the box, `"equal"` is forced to ours (WAL with
`synchronous=FULL`), so every ratio can be read at equal durability. Each result also
carries the journal mode and `synchronous` read back from the subject's own connection,
so the report shows what was in force, not what was asked for.
"""

import sqlite3
import time
from collections.abc import Callable
from typing import Any, Literal

from msgspec import Struct

__all__ = [
    "COMMAND",
    "DURABILITY_WHY",
    "JOURNAL_MODE",
    "RESULT_TEXT",
    "SYNCHRONOUS",
    "Durability",
    "Result",
    "Settings",
    "Target",
    "notification_payload",
    "postgres_targets",
    "read_durability",
    "sqlite_query",
    "targets",
]

Durability = Literal["default", "equal"]

# Ours, as `tidings.adapters.store.application` sets them: eventsourcing switches files to WAL and
# we keep SQLite's `synchronous=FULL`.
JOURNAL_MODE = "wal"
SYNCHRONOUS = "FULL"
DURABILITY_WHY = (
    "WAL with synchronous=FULL: every commit fsyncs the write-ahead log before it "
    "returns, so an operation answered 1001, a queued notification and an ack survive "
    "a crash or power loss, and readers never block the writer. synchronous=NORMAL "
    "(litequeue's default) syncs only at checkpoints: the last commits can vanish on "
    "power loss (the file stays consistent), so a client told its request is pending "
    "might never hear how it ended, or be sent a notification it already acked."
)

COMMAND = "domain-renew"
RESULT_TEXT = "Command completed successfully"

_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class Result(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One measurement. Throughput scenarios: `ops` in `seconds`. Poll latency
    scenarios: `ops_per_s` is 1 / median latency, `latency_ms` that median."""

    # enqueue, poll+ack, replay, replay-backlog, poll-cold, poll-warm, push, http,
    # memory-queued, memory-replay, cache
    scenario: str
    # tidings, "tidings, no tree", persist-queue, litequeue, sqlite3, httpx (push);
    # "tidings WAPI", hello (http); "Repository, fast-forward", "Repository, no cache"
    subject: str
    durability: Durability
    ops_per_s: float
    ops: int
    seconds: float
    journal_mode: str | None = None
    synchronous: str | None = None
    latency_ms: float | None = None
    history_events: int | None = None  # poll-*: the polled mailbox's events before its head
    events_read: int | None = None  # poll-cold: stored events folded to answer one poll
    backlog: int | None = None  # replay-backlog: notifications queued, never polled
    clients: int = 1  # threads calling the subject at once
    # Throughput scenarios: CPU time (user + system, all threads) per operation. Times
    # ops_per_s, the CPUs kept busy: near 1 means Python-bound (one GIL), not disk-bound.
    cpu_us: float | None = None
    # tidings: transactions (each one fsync) per operation, as its group commit counted.
    commits_per_op: float | None = None
    # http: server processes answering, and the load generator's own CPU per request
    # (`cpu_us` is then the server's: every process of it).
    workers: int | None = None
    client_cpu_us: float | None = None
    # http: of the server's `cpu_us`, the kernel's (system time: the sockets, SQLite's
    # reads, writes and fsyncs).
    system_cpu_us: float | None = None
    # memory-queued: RSS grown per queued notification; memory-replay: the peak RSS
    # (bytes), from `rss_start_bytes` when the child began.
    rss_bytes: float | None = None
    rss_start_bytes: float | None = None
    # http uptime: which consecutive window of one serve this row measured (1 first).
    window: int | None = None
    # http: CPUs kept busy meanwhile by other work than the server and its load generator
    # (the machine's own, other programs'): a row it disturbed reads higher CPU per op.
    other_busy: float | None = None
    # http: the CPU microseconds a fixed piece of work (`serving.reference_work`) took on
    # this machine meanwhile: when it grows, the machine slowed, not the server.
    reference_us: float | None = None


class Settings(Struct, frozen=True, kw_only=True):
    """How a run was made: sizes, our durability and why, the machine, the versions."""

    quick: bool
    size: int  # operations per throughput scenario and subject
    rounds: int  # slices of `size`, interleaving the subjects (see bench_queue)
    history_events: int  # events of history in the polled mailbox (at least as asked)
    log_events: int  # entries in the replayed log (that history and its operations)
    backlog: int  # notifications in the never-polled mailbox that replay-backlog folds
    snapshot_every: int  # the library's default: a cold load folds fewer events than this
    cold_polls: int
    journal_mode: str
    synchronous: str
    durability_why: str
    build_seconds: float  # writing the history in bulk (not measured)
    run_seconds: float
    sqlite_version: str
    python: str
    machine: str
    cpus: int
    load_average: tuple[float, float, float]  # at the start: other work skews results
    versions: dict[str, str]


class Target(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One of the issue's targets, at equal durability, and whether this run met it.
    `unit`: what `measured` counts ("B", "MiB"), when not events/s or a ratio."""

    name: str
    wanted: str
    measured: float
    met: bool
    note: str | None = None  # why it was not measured in this run
    aside: str | None = None  # what else the run read that bears on it
    unit: str | None = None


# Memory targets: RSS per queued notification, and the peak RSS of a replay of a log of
# `REPLAY_TARGET_EVENTS` events.
QUEUED_BYTES_WANTED = 600
REPLAY_MIB_WANTED = 250
REPLAY_TARGET_EVENTS = 1_000_000
_MIB = 1024 * 1024


def _memory_targets(results: list[Result]) -> list[Target]:
    """The memory targets. A replay of a shorter log (`--quick`) is judged by its peak
    scaled to `REPLAY_TARGET_EVENTS`: the child's RSS at start plus its growth times
    the events' ratio (a fold keeps at most a state per stream, so it grows no faster
    than the log); a longer log is judged by its peak as it is."""
    found = []
    queued = _find(results, "memory-queued", "tidings")
    if queued is not None and queued.rss_bytes is not None:
        found.append(
            Target(
                name=f"RSS per queued notification ({queued.ops:,} queued, loaded, cached)",
                wanted=f"<= {QUEUED_BYTES_WANTED} B",
                measured=queued.rss_bytes,
                met=queued.rss_bytes <= QUEUED_BYTES_WANTED,
                unit="B",
            )
        )
    replayed = _find(results, "memory-replay", "tidings")
    if replayed is not None and replayed.rss_bytes is not None:
        peak, start = replayed.rss_bytes, replayed.rss_start_bytes or 0.0
        if replayed.ops >= REPLAY_TARGET_EVENTS:
            judged = peak
            name = f"replay peak RSS, a log of {replayed.ops:,} events"
        else:
            judged = start + (peak - start) * REPLAY_TARGET_EVENTS / replayed.ops
            name = (
                f"replay peak RSS, scaled to {REPLAY_TARGET_EVENTS:,} events "
                f"(measured {peak / _MIB:,.0f} MiB on {replayed.ops:,})"
            )
        found.append(
            Target(
                name=name,
                wanted=f"<= {REPLAY_MIB_WANTED} MiB",
                measured=judged / _MIB,
                met=judged <= REPLAY_MIB_WANTED * _MIB,
                unit="MiB",
            )
        )
    return found


def notification_payload(n: int) -> dict[str, Any]:
    """What a peer queue stores per message: the fields of one notification, so the
    peers carry as much as tidings does."""
    return {
        "id": n,
        "code": 1000,
        "result": RESULT_TEXT,
        "timestamp": time.time(),
        "clTRID": f"bench-{n}",
        "svTRID": f"{int(time.time())}.0.{n}",
        "command": COMMAND,
    }


def read_durability(query: Callable[[str], Any]) -> tuple[str, str]:
    """(journal mode, synchronous) in force on a connection; `query` runs a PRAGMA on it
    and returns the first column of its row."""
    journal = str(query("PRAGMA journal_mode")).lower()
    synchronous = int(query("PRAGMA synchronous"))
    return journal, _SYNCHRONOUS_NAMES.get(synchronous, str(synchronous))


def sqlite_query(connection: sqlite3.Connection) -> Callable[[str], Any]:
    """A `read_durability` query over a plain sqlite3 connection."""
    return lambda sql: connection.execute(sql).fetchone()[0]


def _find(results: list[Result], scenario: str, subject: str, **where: Any) -> Result | None:
    for result in results:
        if (
            result.scenario == scenario
            and result.subject == subject
            and all(getattr(result, key) == value for key, value in where.items())
        ):
            return result
    return None


def _ratio(target: Result | None, peer: Result | None) -> float:
    if target is None or peer is None or peer.ops_per_s == 0:
        return 0.0
    return target.ops_per_s / peer.ops_per_s


# Issue 18's SQLite targets, at the threads a busy server has requests in flight: there,
# one fsync serves many commands. One client's two durable calls against a queue's one
# put are bounded by the disk; those rows stay in the table, without a target.
ENQUEUE_WANTED = 1.3  # x each peer's put, at equal durability
DRAIN_WANTED = 2.5  # x the faster peer's get + ack


def targets(
    results: list[Result], clients: tuple[int, ...] = (1,), replay_wanted: float = 300_000.0
) -> list[Target]:
    """The issues' targets, judged on this run's results: the queue ratios at the most
    clients measured, the Merkle tree's cost at each number of clients."""
    found = []
    n = max(clients)
    who = f"{n} client{'s' if n > 1 else ''}"
    ours = {s: _find(results, s, "tidings", clients=n) for s in ("enqueue", "poll+ack")}
    for peer in ("persist-queue", "litequeue"):
        put = _find(results, "enqueue", peer, durability="equal", clients=n)
        enqueue = _ratio(ours["enqueue"], put)
        found.append(
            Target(
                name=f"enqueue vs {peer} put, {who}",
                wanted=f">= {ENQUEUE_WANTED}x",
                measured=enqueue,
                met=enqueue >= ENQUEUE_WANTED,
            )
        )
    peers = [
        _find(results, "poll+ack", p, durability="equal", clients=n)
        for p in ("persist-queue", "litequeue")
    ]
    fastest = max((p for p in peers if p is not None), key=lambda p: p.ops_per_s, default=None)
    drain = _ratio(ours["poll+ack"], fastest)
    found.append(
        Target(
            name=f"poll+ack vs the faster peer ({fastest.subject if fastest else '-'}), {who}",
            wanted=f">= {DRAIN_WANTED}x",
            measured=drain,
            met=drain >= DRAIN_WANTED,
        )
    )
    for n in clients:
        who = f"{n} client{'s' if n > 1 else ''}"
        # The Merkle tree and signed checkpoints may cost at most 10 % of enqueues.
        tree = _ratio(
            _find(results, "enqueue", "tidings", clients=n),
            _find(results, "enqueue", "tidings, no tree", clients=n),
        )
        found.append(
            Target(
                name=f"enqueue with the Merkle tree and checkpoints vs without, {who}",
                wanted=">= 0.90x",
                measured=tree,
                met=tree >= 0.90,
            )
        )
    replay_result = _find(results, "replay", "tidings")
    replay = replay_result.ops_per_s if replay_result is not None else 0.0
    found.append(
        Target(
            name="replay events/s",
            wanted=f">= {replay_wanted:,.0f}",
            measured=replay,
            met=replay >= replay_wanted,
        )
    )
    push = _ratio(_find(results, "push", "tidings"), _find(results, "push", "httpx"))
    found.append(
        Target(
            name="push deliveries/s vs a bare httpx loop, 64 in flight",
            wanted=">= 0.5x",
            measured=push,
            met=push >= 0.5,
        )
    )
    found += _http_targets(results)
    found += _memory_targets(results)
    for scenario in ("poll-cold", "poll-warm"):
        deep = [r for r in results if r.scenario == scenario and r.history_events]
        empty = _find(results, scenario, "tidings", history_events=0)
        # Latency ratio: how much longer a poll takes on the mailbox with a history.
        slower = _ratio(empty, deep[0]) if deep else 0.0
        found.append(
            Target(
                name=f"{scenario}: history-deep / empty latency",
                wanted="<= 1.2x",
                measured=slower,
                met=0.0 < slower <= 1.2,
            )
        )
    return found


def postgres_targets(results: list[Result], measured: bool) -> list[Target]:
    """The PostgreSQL targets (`measured`: whether the run had `--postgres`): enqueue at
    16 threads against raw psycopg single-row commits at 16 threads; two processes, 16
    threads each, against one (the enqueue's beside what two processes buy psycopg)."""
    pairs = [
        (
            "postgres enqueue vs psycopg single-row commits, 16 clients",
            0.5,
            _find(results, "postgres enqueue", "tidings", clients=16),
            _find(results, "postgres enqueue", "psycopg", clients=16),
        ),
        *(
            (
                f"postgres {phase}: 2 processes vs 1, 16 clients each",
                1.5,
                _find(results, f"postgres {phase}", "tidings, 2 processes"),
                _find(results, f"postgres {phase}", "tidings", clients=16),
            )
            for phase in ("enqueue", "poll+ack")
        ),
    ]
    # Where the server and its clients share few CPUs, it bounds what a second process
    # can buy tidings.
    plain = _ratio(
        _find(results, "postgres enqueue", "psycopg, 2 processes"),
        _find(results, "postgres enqueue", "psycopg", clients=16),
    )
    found = []
    for name, wanted, ours, other in pairs:
        ratio = _ratio(ours, other)
        note = None if measured else "not measured (no --postgres)"
        aside = f"psycopg's own: {plain:.2f}x" if plain and "enqueue: 2" in name else None
        found.append(
            Target(
                name=name,
                wanted=f">= {wanted}x",
                measured=ratio,
                met=ratio >= wanted,
                note=note,
                aside=aside,
            )
        )
    return found


# Server CPU per WAPI request in the last window of one serve over the first.
UPTIME_WANTED = 1.10


def _uptime_target(results: list[Result]) -> list[Target]:
    """Whether a WAPI request costs more CPU the longer the server runs."""
    windows = sorted(
        (r for r in results if r.scenario == "http uptime" and r.window is not None),
        key=lambda r: r.window or 0,
    )
    if len(windows) < 2 or not windows[0].cpu_us or windows[-1].cpu_us is None:
        return []
    first, last = windows[0], windows[-1]
    assert first.cpu_us is not None and last.cpu_us is not None
    growth = last.cpu_us / first.cpu_us
    aside = None
    if first.reference_us and last.reference_us:
        drift = last.reference_us / first.reference_us
        aside = (
            f"the reference work's CPU {drift:.2f} over the same windows: "
            f"{growth / drift:.2f} against it"
        )
    return [
        Target(
            name=f"http: server CPU per WAPI request, window {last.window} / window 1 "
            f"of one serve ({first.seconds:g} s windows, each the median of its slices)",
            wanted=f"<= {UPTIME_WANTED:.2f}",
            measured=growth,
            met=growth <= UPTIME_WANTED,
            aside=aside,
        )
    ]


# One worker's WAPI requests/s over the hello ceiling's, at 64 clients.
HTTP_WANTED = 0.25


def _http_targets(results: list[Result]) -> list[Target]:
    """One worker's WAPI requests/s against the hello ceiling, and what more workers add,
    at 64 clients; and CPU per request over uptime."""
    wapi = {
        r.workers: r
        for r in results
        if r.scenario == "http" and r.subject == "tidings WAPI" and r.clients == 64
    }
    hello = _find(results, "http", "hello", clients=64, workers=1)
    ceiling = _ratio(wapi.get(1), hello)
    more = max((w for w in wapi if w is not None and w > 1), default=2)
    scaling = _ratio(wapi.get(more), wapi.get(1))
    # What more workers buy the hello on this machine: where the server and its load
    # generator share few CPUs, it bounds what they can buy tidings.
    hello_scaling = _ratio(_find(results, "http", "hello", clients=64, workers=more), hello)
    aside = f"the hello's own: {hello_scaling:.2f}x" if hello_scaling else None
    return [
        Target(
            name="http: WAPI requests/s vs the hello ceiling, 1 worker, 64 clients",
            wanted=f">= {HTTP_WANTED:.2f}x",
            measured=ceiling,
            met=ceiling >= HTTP_WANTED,
        ),
        Target(
            name=f"http: WAPI requests/s, --workers {more} vs --workers 1, 64 clients",
            wanted=">= 1.70x",
            measured=scaling,
            met=scaling >= 1.70,
            aside=aside,
        ),
        *_uptime_target(results),
    ]
