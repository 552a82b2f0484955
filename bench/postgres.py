"""`python -m bench --postgres URL`: tidings on PostgreSQL beside raw psycopg commits.

Rows `postgres enqueue` and `postgres poll+ack`, measured in the same run:
- `tidings`, at 1 and 16 threads in one process: the library as a backend embeds it;
- `tidings, 2 processes`: two processes on one log, each with 16 threads and accounts
  of its own, each doing as many operations as the one-process row: the pair does
  twice the work, and its ops/s counts both;
- `psycopg` (enqueue only), at 1 and 16 threads: single-row INSERTs, each its own
  transaction, a connection per thread: the limit for any design that commits each
  enqueue on its own; and in 2 processes of 16 threads, as tidings': what a second
  process buys the plainest client on this machine (its server shares the CPUs).

Each subject runs in processes of its own (so one process's figure and two processes'
are taken alike) and in a schema of its own, made for the run and dropped after it; the
database the URL names is otherwise left alone. As in `queue`, every subject does a
slice of its work in each round, in an order that rotates.
"""

import itertools
import json
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .queue import spread
from .results import Result, notification_payload
from .subjects import TidingsQueue

__all__ = ["PsycopgInserts", "measure_postgres", "problem", "server_settings"]

Kind = Literal["tidings", "psycopg"]
_PHASES = ("enqueue", "poll+ack")


def problem(url: str) -> str | None:
    """Why the bench cannot use the server at `url`, in one line; None when it can."""
    if not url.startswith(("postgresql://", "postgres://")):
        return f"--postgres wants a postgresql:// URL, not {url!r}"
    try:
        server_settings(_without_schema(url))
    except psycopg.Error as error:
        return f"cannot reach PostgreSQL at --postgres: {error}"
    return None


def server_settings(url: str) -> tuple[str, str]:
    """What the server's durability is, as the rows report it: `fsync` and
    `synchronous_commit` ("commit"), read back from a connection (both subjects commit
    alike)."""
    with psycopg.connect(url, autocommit=True) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()
        commit = conn.execute("SHOW synchronous_commit").fetchone()
    assert fsync is not None and commit is not None
    return f"fsync={fsync[0]}", f"commit={commit[0]}"


class PsycopgInserts:
    """Single-row INSERTs into a table of one schema, each its own transaction, a
    connection per thread."""

    drains = False

    def __init__(self, url: str, schema: str, clients: int):
        self.clients = clients
        self._connections = [
            psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}")
            for _ in range(clients)
        ]
        # Two worker processes share the schema, and CREATE TABLE IF NOT EXISTS is not
        # safe against a concurrent one: the lock makes the second wait and see the table.
        with self._connections[0].transaction():
            self._connections[0].execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
            self._connections[0].execute(
                "CREATE TABLE IF NOT EXISTS notification (id bigserial PRIMARY KEY, body bytea)"
            )
        self._numbers = itertools.count()

    def put(self, client: int) -> None:
        body = json.dumps(notification_payload(next(self._numbers))).encode()
        self._connections[client].execute("INSERT INTO notification (body) VALUES (%s)", (body,))

    def take(self, client: int) -> None:
        raise NotImplementedError("raw inserts are the enqueue limit only")

    def transactions(self) -> None:
        return None

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


@dataclass(frozen=True, slots=True)
class _Spec:
    """One subject as a worker process builds it."""

    kind: Kind
    url: str  # the server's, without a schema
    schema: str  # the subject's
    clients: int
    key: Path  # tidings: where its signing key is written
    login: str  # tidings: its accounts' prefix


def _open(spec: _Spec) -> TidingsQueue | PsycopgInserts:
    if spec.kind == "psycopg":
        return PsycopgInserts(spec.url, spec.schema, spec.clients)
    url = urlunsplit(urlsplit(spec.url)._replace(query=f"schema={spec.schema}"))
    return TidingsQueue(spec.key, spec.clients, db=url, login=spec.login)


def _work(pipe: Connection, spec: _Spec) -> None:
    """A worker process: builds its subject, then runs each (phase, count) it is sent
    with the subject's threads; answers (CPU seconds, transactions) or an error's text."""
    try:
        subject = _open(spec)
    except Exception as error:
        pipe.send(f"{type(error).__name__}: {error}")
        return
    try:
        pipe.send(None)
        while (order := pipe.recv()) is not None:
            phase, count = order
            one = subject.put if phase == "enqueue" else subject.take
            before, cpu = subject.transactions(), time.process_time()
            try:
                spread(spec.clients, count, one)
            except Exception as error:
                pipe.send(f"{type(error).__name__}: {error}")
                continue
            after = subject.transactions()
            commits = None if before is None or after is None else after - before
            pipe.send((time.process_time() - cpu, commits))
    finally:
        subject.close()


class _Group:
    """A subject in `processes` worker processes, each with `spec.clients` threads."""

    def __init__(self, name: str, spec: _Spec, processes: int):
        self.name, self.clients, self.drains = name, spec.clients, spec.kind == "tidings"
        context = multiprocessing.get_context("spawn")
        self._pipes, self._workers = [], []
        for number in range(processes):
            mine, theirs = context.Pipe()
            worker_spec = replace(
                spec,
                key=spec.key.with_name(f"{spec.key.name}-{number}"),
                login=f"{spec.login}-{number}",
            )
            worker = context.Process(target=_work, args=(theirs, worker_spec), daemon=True)
            worker.start()
            self._pipes.append(mine)
            self._workers.append(worker)
        for pipe, worker in zip(self._pipes, self._workers, strict=True):
            _answer(pipe, worker)

    def run(self, phase: str, count: int) -> tuple[float, float, int | None]:
        """Every process does `count` operations of `phase` at once: (wall seconds, CPU
        seconds of all of them, transactions)."""
        start = time.perf_counter()
        for pipe in self._pipes:
            pipe.send((phase, count))
        answers = [_answer(p, w) for p, w in zip(self._pipes, self._workers, strict=True)]
        seconds = time.perf_counter() - start
        commits = [c for _, c in answers]
        total = None if None in commits else sum(c or 0 for c in commits)
        return seconds, sum(cpu for cpu, _ in answers), total

    @property
    def processes(self) -> int:
        return len(self._workers)

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send(None)
        for worker in self._workers:
            worker.join(timeout=60)


def _answer(pipe: Connection, worker: BaseProcess) -> Any:
    """A worker's answer; an error's text, or a worker gone without a word, is raised."""
    while not pipe.poll(1.0):
        if not worker.is_alive():
            raise RuntimeError(f"a bench worker exited with code {worker.exitcode}")
    answer = pipe.recv()
    if isinstance(answer, str):
        raise RuntimeError(f"a bench worker failed: {answer}")
    return answer


def _without_schema(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


@contextmanager
def _schemas(url: str, names: Sequence[str]) -> Iterator[dict[str, str]]:
    """Fresh schemas for this run, one per name: each name's schema; dropped afterwards."""
    run = uuid.uuid4().hex[:8]
    made = {name: f"tidings_bench_{run}_{name}" for name in names}
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in made.values():
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield made
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in made.values():
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _groups(url: str, schemas: dict[str, str], directory: Path) -> Iterator[_Group]:
    def spec(kind: Kind, name: str, clients: int) -> _Spec:
        return _Spec(kind, url, schemas[name], clients, directory / f"postgres-{name}", "bench")

    for clients in (1, 16):
        yield _Group("tidings", spec("tidings", f"tidings_{clients}", clients), 1)
        yield _Group("psycopg", spec("psycopg", f"psycopg_{clients}", clients), 1)
    yield _Group("tidings, 2 processes", spec("tidings", "tidings_2p", 16), 2)
    yield _Group("psycopg, 2 processes", spec("psycopg", "psycopg_2p", 16), 2)


_SCHEMAS = ("tidings_1", "psycopg_1", "tidings_16", "psycopg_16", "tidings_2p", "psycopg_2p")


def measure_postgres(
    url: str, directory: Path, size: int, rounds: int, *, status: Callable[[str], None]
) -> list[Result]:
    """The `postgres` rows: `size` enqueues then `size` poll + ack cycles per process of
    each subject, in `rounds` rounds. `status` hears what is being done."""
    url = _without_schema(url)
    journal, synchronous = server_settings(url)
    spent: dict[tuple[str, int, str], list[float]] = {}
    with _schemas(url, _SCHEMAS) as schemas:
        status("postgres: starting the subjects' processes")
        groups: list[_Group] = []
        try:
            for group in _groups(url, schemas, directory):
                groups.append(group)
            base, extra = divmod(size, rounds)
            for number in range(rounds):
                count = base + (1 if number < extra else 0)
                order = groups[number % len(groups) :] + groups[: number % len(groups)]
                for phase in _PHASES:
                    status(f"postgres: {phase}, round {number + 1} of {rounds}")
                    for group in order:
                        if count and (phase == "enqueue" or group.drains):
                            key = (group.name, group.clients, phase)
                            found = spent.setdefault(key, [0.0, 0.0, 0.0])
                            for at, value in enumerate(group.run(phase, count)):
                                found[at] += value or 0.0
        finally:
            for group in groups:
                group.close()
    results = []
    for group in groups:
        for phase in _PHASES:
            if (group.name, group.clients, phase) not in spent:
                continue
            seconds, cpu, commits = spent[group.name, group.clients, phase]
            ops = size * group.processes
            results.append(
                Result(
                    scenario=f"postgres {phase}",
                    subject=group.name,
                    durability="equal",
                    ops_per_s=ops / seconds,
                    ops=ops,
                    seconds=seconds,
                    journal_mode=journal,
                    synchronous=synchronous,
                    clients=group.clients,
                    cpu_us=cpu / ops * 1e6,
                    commits_per_op=commits / ops if group.drains else None,
                )
            )
    return results
