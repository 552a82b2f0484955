"""CPU per command of the library: `python -m bench.cpu [--ops N] [--threads T] [--db URL]
[--no-tree]`, what the entries of docs/decisions.md ("The command path") re-measure.

Process CPU time (user and system, every thread, and the system part alone) and the
process's context switches (voluntary: a thread blocked; involuntary: one preempted) per
enqueue (accept + end) and per poll + ack, `threads` callers at once, on a fresh
database (`--db`: a PostgreSQL URL, give it a fresh `?schema=`): other load on a shared
machine moves it far less than it moves the bench's rates. Under `valgrind
--tool=callgrind`, two runs of different `--ops` give instructions per operation by
their difference, a figure load does not move at all.
"""

import resource
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .queue import spread
from .subjects import TidingsQueue

__all__ = ["cpu_per_operation"]


def _usage() -> tuple[float, float, int, int]:
    """The process's user and system CPU seconds, voluntary and involuntary switches."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime, usage.ru_nvcsw, usage.ru_nivcsw


def cpu_per_operation(
    ops: Annotated[int, typer.Option(min=1, help="Operations of each kind.")] = 1600,
    threads: Annotated[int, typer.Option(min=1, help="Callers at once.")] = 16,
    db: Annotated[str | None, typer.Option(help="A database URL (default: a file).")] = None,
    no_tree: Annotated[bool, typer.Option(help="Without the Merkle tree and signing.")] = False,
) -> None:
    """Print the process CPU (and its system part) per enqueue and per poll + ack, the
    context switches (voluntary+involuntary) per operation, and the transactions per
    operation."""
    with tempfile.TemporaryDirectory() as directory:
        queue = TidingsQueue(
            Path(directory) / "cpu.db", threads, tamper_evidence=not no_tree, db=db
        )
        try:
            for name, one in (("enqueue", queue.put), ("poll+ack", queue.take)):
                transactions, before = queue.transactions(), _usage()
                spread(threads, ops, one)
                used = [(a - b) / ops for a, b in zip(_usage(), before, strict=True)]
                per = (queue.transactions() - transactions) / ops
                typer.echo(
                    f"{name}: {(used[0] + used[1]) * 1e6:.0f} µs CPU ({used[1] * 1e6:.0f} system),"
                    f" {used[2]:.2f}+{used[3]:.2f} context switches,"
                    f" {per:.3f} transactions an operation"
                )
        finally:
            queue.close()


if __name__ == "__main__":
    typer.run(cpu_per_operation)
