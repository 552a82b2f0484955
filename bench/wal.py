"""Pages a commit writes, by b-tree: `python -m bench.wal [--grow N] [--ops N] [--threads
T] [--drain]`, what the entries of docs/decisions.md on stream ids and pages re-measure.

Grows a fresh SQLite log by `grow` enqueues, then runs `ops` more (or, with `drain`,
that many poll + acks) while a reader of its own holds the WAL (no checkpoint restarts
it meanwhile), and reads the frames they added: each commit's pages, named by the
b-tree (table or index) that holds them, per `dbstat`. Neither the disk nor other load
on the machine moves these counts.
"""

import collections
import sqlite3
import struct
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .queue import spread
from .subjects import TidingsQueue

__all__ = ["pages_per_commit"]

_HEADER, _FRAME_HEADER = 32, 24


def _commits(wal: bytes, start: int = _HEADER) -> tuple[list[list[int]], int]:
    """The page numbers of each commit in the WAL from byte `start` (a frame's start)
    up to the first frame of an older cycle (one whose salts are not the header's: a
    restarted WAL writes over the old one from its start), and where its last ends."""
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    commits: list[list[int]] = []
    pages: list[int] = []
    at = end = start
    while at + _FRAME_HEADER + page_size <= len(wal):
        page, commit = struct.unpack(">II", wal[at : at + 8])
        if wal[at + 8 : at + 16] != salts:
            break
        pages.append(page)
        at += _FRAME_HEADER + page_size
        if commit:
            commits.append(pages)
            pages, end = [], at
    return commits, end


def pages_per_commit(
    grow: Annotated[int, typer.Option(min=0, help="Enqueues before the measured ones.")] = 6000,
    ops: Annotated[int, typer.Option(min=1, help="Operations measured.")] = 1600,
    threads: Annotated[int, typer.Option(min=1, help="Callers at once.")] = 16,
    drain: Annotated[bool, typer.Option(help="Measure poll + acks, not enqueues.")] = False,
) -> None:
    """Print the commits read, the pages a commit writes and their b-trees."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "wal.db"
        wal = path.with_name(path.name + "-wal")
        queue = TidingsQueue(path, threads)
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            spread(threads, grow + (ops if drain else 0), queue.put)
            holder.execute("BEGIN")
            holder.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # holds the WAL
            _, start = _commits(wal.read_bytes())
            spread(threads, ops, queue.take if drain else queue.put)
            commits, _ = _commits(wal.read_bytes(), start)
            holder.execute("COMMIT")
            owner = dict(holder.execute("SELECT pageno, name FROM dbstat"))
        finally:
            holder.close()
            queue.close()
    if not commits:
        typer.echo("no commit in the WAL's current cycle: measure more operations")
        raise typer.Exit(1)
    by_tree: collections.Counter[str] = collections.Counter()
    for pages in commits:
        by_tree.update(owner.get(page, "(freed or new)") for page in set(pages))
    count = len(commits)
    typer.echo(f"{count} commits, {sum(by_tree.values()) / count:.1f} pages a commit")
    for tree, pages_of in by_tree.most_common():
        typer.echo(f"  {tree}: {pages_of / count:.2f}")


if __name__ == "__main__":
    typer.run(pages_per_commit)
