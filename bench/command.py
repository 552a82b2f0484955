"""`python -m bench`: tidings next to its peers, on this machine, in one run.

Each subject works on a fresh SQLite file in a temporary directory, one after another
in this process, so they share the same disk, CPU and moment. The table gives ops/s and
tidings' ratio to each peer, at the peer's defaults and at our durability.
"""

import os
import platform
import sqlite3
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from tidings.adapters.store.application import SNAPSHOT_EVERY
from tidings.cli.output import fail

from bench.cache import measure_cache
from bench.http import (
    HTTP_CLIENTS,
    UPTIME_WINDOWS,
    WAPI,
    measure_http,
    measure_uptime,
    more_workers,
)
from bench.log import REPLAY_FOLDS, build_backlog, build_history, replay
from bench.memory import measure_memory
from bench.peers import LiteQueueSubject, PersistQueueSubject, SqliteInserts
from bench.postgres import measure_postgres, problem
from bench.push import IN_FLIGHT, measure_push
from bench.queue import QueueSubject, measure_queues
from bench.results import (
    DURABILITY_WHY,
    JOURNAL_MODE,
    SYNCHRONOUS,
    Result,
    Settings,
    Target,
    postgres_targets,
    targets,
)
from bench.subjects import TidingsQueue, run_history_polls

__all__ = ["bench_command"]


class _Sizes(msgspec.Struct, frozen=True):
    size: int  # operations per throughput scenario and subject
    rounds: int
    history_events: int  # events of mailbox history (the replay and poll scenarios)
    backlog: int  # notifications in the never-polled mailbox (replay-backlog)
    cold_polls: int
    push: int  # notifications pushed by tidings and by the bare httpx loop
    http_seconds: float  # measured per http row and round, after its warm-up
    http_rounds: int  # turns the http rows' servers take, each round in another order
    uptime_window: float  # seconds of each window of the uptime rows' serve


# Push: at 100 deliveries the row measures mostly the runner's start; 1,000 lets the
# steady state dominate.
_QUICK = _Sizes(200, 2, 100_000, 20_000, 10, 1_000, 1.0, 1, 2.0)
_FULL = _Sizes(2_000, 6, 1_000_000, 200_000, 30, 2_000, 3.0, 4, 60.0)
# Threads calling each subject at once: one, and as many as a busy server has requests
# in flight. With many, tidings saves the commands that arrive together in one
# transaction; the peers commit each call on its own.
CLIENTS = (1, 16)
# Accounts the cache rows read (a server's working set of mailboxes, all cached).
CACHE_ACCOUNTS = 50

_err = Console(stderr=True)


class _Report(msgspec.Struct, frozen=True):
    settings: Settings
    results: list[Result]
    targets: list[Target]


def _versions() -> dict[str, str]:
    found = {}
    for name in ("tidings", "eventsourcing", "msgspec", "persist-queue", "litequeue"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _measure(directory: Path, sizes: _Sizes) -> tuple[list[Result], int, int, float]:
    """Every scenario; returns the results, the log size, the history's actual size and
    the time spent writing the histories."""
    size, rounds, history_events = sizes.size, sizes.rounds, sizes.history_events
    subjects: list[QueueSubject] = []
    for n in CLIENTS:
        subjects.append(TidingsQueue(directory / f"tidings-{n}.db", n))
        subjects.append(TidingsQueue(directory / f"no-tree-{n}.db", n, tamper_evidence=False))
        for durability in ("default", "equal"):
            peer = f"{durability}-{n}"
            subjects.append(PersistQueueSubject(directory / f"persist-queue-{peer}", durability, n))
            subjects.append(LiteQueueSubject(directory / f"litequeue-{peer}.db", durability, n))
        subjects.append(SqliteInserts(directory / f"sqlite3-{n}.db", n))
    with _err.status(f"enqueue and poll + ack: {len(subjects)} subjects, {rounds} rounds"):
        results = measure_queues(subjects, size, rounds)
    with _err.status(f"writing a mailbox history of {history_events:,} events"):
        history = build_history(directory / "history.db", history_events, SNAPSHOT_EVERY)
    with _err.status(f"replaying {history.log_events:,} events, {REPLAY_FOLDS} times"):
        results.append(replay(history))
    with _err.status("polling the history-deep and the empty mailbox"):
        results += run_history_polls(history, size, sizes.cold_polls)
    with _err.status(f"the state cache beside eventsourcing's Repository: {size} rounds"):
        results += measure_cache(directory / "cache.db", CACHE_ACCOUNTS, size)
    with _err.status(f"writing and replaying a backlog of {sizes.backlog:,} notifications"):
        backlog = build_backlog(directory / "backlog.db", sizes.backlog, SNAPSHOT_EVERY)
        results.append(replay(backlog, backlog=sizes.backlog))
    with _err.status("memory: a queued notification, and a replay's peak, each in a child"):
        results += measure_memory(history, backlog)
    with _err.status(f"pushing {sizes.push:,} notifications, {IN_FLIGHT} in flight"):
        results += measure_push(directory, sizes.push)
    rows, workers = 2 * 2 * len(HTTP_CLIENTS), more_workers()
    turns = f"{sizes.http_rounds} x {sizes.http_seconds:g} s"
    with _err.status(f"http: {rows} rows of {turns}, 1 and {workers} workers, taking turns"):
        results += measure_http(directory, sizes.http_seconds, sizes.http_rounds)
    window = sizes.uptime_window
    with _err.status(f"http uptime: one serve, {UPTIME_WINDOWS} windows of {window:g} s"):
        results += measure_uptime(directory, window)
    built = history.seconds + backlog.seconds
    return results, history.log_events, history.mailbox_events, built


def _subject(result: Result) -> str:
    if result.workers is not None:
        return f"{result.subject}, {result.workers} worker{'s' if result.workers > 1 else ''}"
    if result.history_events is None:
        return result.subject
    return f"{result.subject} ({'deep' if result.history_events else 'empty'})"


def _ratio(result: Result, results: list[Result]) -> str:
    """tidings' ops/s over this row's, for peers; the history-deep poll's latency over
    the empty mailbox's, for polls."""
    if result.history_events:
        empty = [r for r in results if r.scenario == result.scenario and r.history_events == 0]
        return f"{empty[0].ops_per_s / result.ops_per_s:.2f}x empty" if empty else ""
    mine = WAPI if result.scenario.startswith("http") else "tidings"
    if result.subject == mine:
        return ""
    ours = [
        r
        for r in results
        if r.scenario == result.scenario
        and r.subject == mine
        and r.clients == result.clients
        and r.workers == result.workers
    ]
    return f"{ours[0].ops_per_s / result.ops_per_s:.2f}x" if ours else ""


def _notes(result: Result) -> str:
    notes = []
    if result.window is not None:
        notes.append(f"window {result.window} of one serve")
    if result.history_events:
        notes.append(f"history {result.history_events:,} events")
    if result.latency_ms is not None:
        notes.append(f"{result.latency_ms:.2f} ms")
    if result.events_read is not None:
        notes.append(f"{result.events_read} events read")
    if result.backlog is not None:
        notes.append(f"one mailbox, {result.backlog:,} notifications queued, never polled")
    if result.rss_bytes is not None and result.scenario == "memory-queued":
        notes.append(f"RSS {result.rss_bytes:,.0f} B per queued notification")
    elif result.rss_bytes is not None:
        notes.append(f"peak RSS {result.rss_bytes / 2**20:,.0f} MiB")
    if result.cpu_us is not None:
        busy = result.cpu_us * result.ops_per_s / 1e6
        whose = "server " if result.client_cpu_us is not None else ""
        notes.append(f"{whose}CPU {result.cpu_us:,.0f} µs/op ({busy:.2f} busy)")
    if result.system_cpu_us is not None:
        notes.append(f"of which system {result.system_cpu_us:,.0f} µs/op")
    if result.client_cpu_us is not None:
        busy = result.client_cpu_us * result.ops_per_s / 1e6
        notes.append(f"client CPU {result.client_cpu_us:,.0f} µs/op ({busy:.2f} busy)")
    if result.commits_per_op is not None:
        notes.append(f"{result.commits_per_op:.2f} commits/op")
    if result.other_busy is not None:
        notes.append(f"other work {result.other_busy:.2f} busy")
    if result.reference_us is not None:
        notes.append(f"reference work {result.reference_us:,.0f} µs")
    return "; ".join(notes)


def _sharing(results: list[Result], cpus: int) -> str:
    """What the http rows' load generator took of the CPUs the server had to share."""
    busy = [r.client_cpu_us * r.ops_per_s / 1e6 for r in results if r.client_cpu_us]
    return (
        f"http: the servers and their load generator share these {cpus} CPUs; the "
        f"generator kept {min(busy, default=0):.2f}-{max(busy, default=0):.2f} of a CPU busy "
        "(its own figure is in each row)"
    )


def _table(results: list[Result]) -> Table:
    table = Table(title="bench: ops/s (poll rows: 1 / median latency)", box=box.SIMPLE)
    table.add_column("scenario")
    table.add_column("subject")
    table.add_column("clients", justify="right")
    table.add_column("durability")
    table.add_column("ops/s", justify="right")
    table.add_column("tidings ÷ it", justify="right")
    table.add_column("notes")
    for r in results:
        durability: str = r.durability
        if r.journal_mode is not None:
            durability += f" {r.journal_mode}/{r.synchronous}"
        table.add_row(
            r.scenario,
            _subject(r),
            str(r.clients),
            durability,
            f"{r.ops_per_s:,.0f}",
            _ratio(r, results),
            _notes(r),
        )
    return table


# What a --quick run says of its targets: its sizes flatter some rows (thread start-up
# dominates the peers' few operations), so only a full-size run judges them.
QUICK_CAVEAT = "--quick: small sizes, NOT for judging targets; run without --quick for that"


def _targets_table(found: list[Target], quick: bool) -> Table:
    title = "targets (equal durability)"
    if quick:
        title += f"\n{QUICK_CAVEAT}"
    table = Table(title=title, box=box.SIMPLE)
    for column in ("target", "wanted", "measured", "met"):
        table.add_column(column)
    for t in found:
        if t.note is not None:
            table.add_row(t.name, t.wanted, t.note, "-")
            continue
        if t.unit is not None:
            measured = f"{t.measured:,.0f} {t.unit}"
        elif t.measured >= 1000:
            measured = f"{t.measured:,.0f}"
        else:
            measured = f"{t.measured:.2f}x"
        if t.aside is not None:
            measured += f" ({t.aside})"
        table.add_row(t.name, t.wanted, measured, "yes" if t.met else "NO")
    return table


def _need_the_extra() -> None:
    """One line, not a traceback, when the peers (the `bench` extra) are not installed."""
    try:
        import litequeue  # noqa: F401
        import persistqueue  # noqa: F401
    except ImportError as missing:
        raise fail(
            f"the bench compares with peers it cannot import ({missing.name}): "
            "pip install 'tidings[bench]'",
            2,
        ) from None


def bench_command(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Small sizes for CI, well under a minute; not for judging targets."
        ),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            min=1,
            help="Operations per throughput scenario and subject "
            f"[default: {_QUICK.size} with --quick, else {_FULL.size}].",
        ),
    ] = None,
    postgres: Annotated[
        str | None,
        typer.Option(
            "--postgres",
            metavar="URL",
            help="Also measure tidings on this PostgreSQL database, beside raw psycopg "
            "commits, in fresh schemas dropped afterwards.",
        ),
    ] = None,
) -> None:
    """Enqueue, poll + ack, replay and poll on a long history, next to persist-queue,
    litequeue and raw sqlite3 inserts, each on a fresh SQLite file; replay of a mailbox
    whose client never polls; and URL push next to a bare httpx loop. Each subject works
    on its own fresh file in a temporary directory (a bench measures; it never touches a
    --db)."""
    _need_the_extra()
    if postgres is not None and (why := problem(postgres)) is not None:
        raise fail(why, 2)
    sizes = _QUICK if quick else _FULL
    if size is not None:
        sizes = msgspec.structs.replace(sizes, size=size)
    started, load = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as directory:
        results, log_events, mailbox_events, build = _measure(Path(directory), sizes)
        if postgres is not None:
            with _err.status("postgres") as status:
                results += measure_postgres(
                    postgres, Path(directory), sizes.size, sizes.rounds, status=status.update
                )
    size = sizes.size
    settings = Settings(
        quick=quick,
        size=size,
        rounds=sizes.rounds,
        history_events=mailbox_events,
        log_events=log_events,
        backlog=sizes.backlog,
        snapshot_every=SNAPSHOT_EVERY,
        cold_polls=sizes.cold_polls,
        journal_mode=JOURNAL_MODE,
        synchronous=SYNCHRONOUS,
        durability_why=DURABILITY_WHY,
        build_seconds=build,
        run_seconds=time.perf_counter() - started,
        sqlite_version=sqlite3.sqlite_version,
        python=sys.version.split()[0],
        machine=platform.platform(),
        cpus=os.cpu_count() or 0,
        load_average=load,
        versions=_versions(),
    )
    found = targets(results, CLIENTS) + postgres_targets(results, postgres is not None)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a file or CI log: keep each row on one line
    console.print(_table(results))
    console.print(_targets_table(found, quick))
    if quick:
        console.print(QUICK_CAVEAT)
    console.print(
        f"ours: journal_mode={JOURNAL_MODE}, synchronous={SYNCHRONOUS}. {DURABILITY_WHY}",
        soft_wrap=False,
    )
    console.print(
        f"{size} ops per scenario; log of {log_events:,} events written in {build:.1f} s; "
        f"load average at start {load[0]:.2f} on {settings.cpus} CPUs; "
        f"run took {settings.run_seconds:.1f} s"
    )
    console.print(_sharing(results, settings.cpus), soft_wrap=False)
    if json_path is not None:
        report = _Report(settings=settings, results=results, targets=found)
        json_path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
