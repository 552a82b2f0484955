"""Commands in batches of a fixed make-up, for a deterministic instruction count:
`valgrind --tool=callgrind python -m bench.batches --phase enqueue --rounds N` (or
`--phase poll+ack`), two runs of different `--rounds` differenced and divided by 16
times the difference: instructions per enqueue (accept + end) or per poll + ack.

`bench.cpu` runs 16 threads freely, so how they fall into batches moves its count by a
few per cent from run to run. Here each batch holds exactly one command of each of 16
client threads: the main thread leads a batch of its own, a command that waits until
all 16 have queued behind it (`GroupCommit.waiting`), and the next leader runs them
together. Per round, the enqueue phase runs an accept batch and an end batch; the
poll + ack phase a poll batch and an ack batch, on queues filled beforehand with
`--queued` rounds of enqueues (keep it the same in both runs, and at least `--rounds`).
The waiting command's own batch saves nothing and costs every run alike. The Merkle tree
grows; no checkpoint is signed.

`--subject ceiling` runs the same batches on the command path's ceiling (`bench.ceiling`)
instead of tidings.
"""

import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.adapters.store.commit import GroupCommit
from tidings.adapters.usecases.runtime import utcnow

from .ceiling import Ceiling
from .log import PASSWORD
from .results import COMMAND, RESULT_TEXT

__all__ = ["run_batches"]

CLIENTS = 16


class _Committer(Protocol):
    """What holds a batch: `GroupCommit`, or the ceiling's own."""

    transactions: int

    @property
    def waiting(self) -> int: ...

    def execute(self, clock: Callable[[], datetime], body: Callable[[Any], Any]) -> Any: ...


class _Clients:
    """16 threads, each an account of its own, running one command a round when told.
    `tidings`: the library, or the ceiling (the same calls)."""

    def __init__(self, tidings: Tidings | Ceiling, committer: _Committer):
        self.tidings, self._committer = tidings, committer
        self.logins = [f"batch-{n}" for n in range(CLIENTS)]
        for login in self.logins:
            tidings.open_account(login, PASSWORD)
        self.pending: list[list[str]] = [[] for _ in range(CLIENTS)]
        self.head: list[int] = [0] * CLIENTS
        self._go = threading.Barrier(CLIENTS + 1)
        self._done = threading.Barrier(CLIENTS + 1)
        self._step: Callable[[int], None] | None = None
        self._threads = [threading.Thread(target=self._serve, args=(n,)) for n in range(CLIENTS)]
        for thread in self._threads:
            thread.start()

    def _serve(self, client: int) -> None:
        while True:
            self._go.wait()
            step = self._step
            if step is None:
                return
            step(client)
            self._done.wait()

    def accept(self, client: int) -> None:
        cltrid = f"b{len(self.pending[client])}"
        pending = self.tidings.accept(self.logins[client], cltrid, COMMAND)
        self.pending[client].append(pending.svtrid)

    def end(self, client: int) -> None:
        self.tidings.end(self.pending[client].pop(), 1000, RESULT_TEXT)

    def poll(self, client: int) -> None:
        answer = self.tidings.poll(self.logins[client])
        if answer.notification is None:
            raise RuntimeError(f"poll found no notification: {answer.code} {answer.text}")
        self.head[client] = answer.notification.id

    def ack(self, client: int) -> None:
        self.tidings.ack(self.logins[client], self.head[client])

    def batch(self, step: Callable[[int], None]) -> None:
        """`step` of every client, all run in one batch (see the module's docstring)."""
        committer = self._committer

        def hold(work: object) -> None:
            self._go.wait()  # the clients start, and queue behind this command
            while committer.waiting < CLIENTS:
                time.sleep(0.005)

        self._step = step
        committer.execute(utcnow, hold)
        self._done.wait()

    def close(self) -> None:
        self._step = None
        self._go.wait()
        for thread in self._threads:
            thread.join()


def run_batches(
    phase: Annotated[str, typer.Option(help="enqueue or poll+ack.")] = "enqueue",
    rounds: Annotated[int, typer.Option(min=0, help="Batches of each command.")] = 10,
    queued: Annotated[int, typer.Option(min=0, help="Enqueue rounds before poll+ack.")] = 40,
    subject: Annotated[str, typer.Option(help="tidings, or ceiling (bench.ceiling).")] = "tidings",
) -> None:
    """Run `rounds` rounds of the phase's two batches (see the module's docstring)."""
    if phase not in ("enqueue", "poll+ack"):
        raise typer.BadParameter("enqueue or poll+ack", param_hint="--phase")
    if phase == "poll+ack" and queued < rounds:
        raise typer.BadParameter("at least --rounds", param_hint="--queued")
    if subject not in ("tidings", "ceiling"):
        raise typer.BadParameter("tidings or ceiling", param_hint="--subject")
    with tempfile.TemporaryDirectory() as directory:
        # The tree grows; no checkpoint is signed (their cadence would put signatures
        # in one run and not the other).
        path = Path(directory) / "batches.db"
        tidings: Tidings | Ceiling
        committer: _Committer
        if subject == "ceiling":
            tidings = committer = Ceiling(path, signed=False)
        else:
            store = Store(str(path))
            committer = GroupCommit(store)
            tidings = Tidings.over(store, committer=committer)
        clients = _Clients(tidings, committer)
        try:
            steps = (clients.accept, clients.end)
            for _ in range(queued if phase == "poll+ack" else 0):
                for step in steps:
                    clients.batch(step)
            if phase == "poll+ack":
                steps = (clients.poll, clients.ack)
            for _ in range(rounds):
                for step in steps:
                    clients.batch(step)
        finally:
            clients.close()
            tidings.close()
    typer.echo(f"{phase}: {rounds} rounds of {CLIENTS}, {committer.transactions} transactions")


if __name__ == "__main__":
    typer.run(run_batches)
