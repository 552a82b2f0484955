"""CPU per command of the library: `python -m bench.cpu [--ops N] [--threads T] [--db URL]
[--no-tree]`, what the entries of docs/decisions.md ("The command path") re-measure.

Process CPU time (user and system, every thread) per enqueue (accept + end) and per
poll + ack, `threads` callers at once, on a fresh database (`--db`: a PostgreSQL URL,
give it a fresh `?schema=`): other load on a shared machine moves it far less than it
moves the bench's rates. Under `valgrind --tool=callgrind`, two runs of different
`--ops` give instructions per operation by their difference, a figure load does not
move at all.
"""

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from .queue import spread
from .subjects import TidingsQueue

__all__ = ["cpu_per_operation"]


def cpu_per_operation(
    ops: Annotated[int, typer.Option(help="Operations of each kind.")] = 1600,
    threads: Annotated[int, typer.Option(help="Callers at once.")] = 16,
    db: Annotated[str | None, typer.Option(help="A database URL (default: a file).")] = None,
    no_tree: Annotated[bool, typer.Option(help="Without the Merkle tree and signing.")] = False,
) -> None:
    """Print the process CPU per enqueue and per poll + ack, and the commands per
    transaction."""
    with tempfile.TemporaryDirectory() as directory:
        queue = TidingsQueue(
            Path(directory) / "cpu.db", threads, tamper_evidence=not no_tree, db=db
        )
        try:
            for name, one in (("enqueue", queue.put), ("poll+ack", queue.take)):
                transactions, started = queue.transactions(), time.process_time()
                spread(threads, ops, one)
                used = time.process_time() - started
                per = (queue.transactions() - transactions) / ops
                typer.echo(
                    f"{name}: {used / ops * 1e6:.0f} µs CPU, {per:.3f} transactions an operation"
                )
        finally:
            queue.close()


if __name__ == "__main__":
    typer.run(cpu_per_operation)
