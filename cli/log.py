"""`tidings log`: the notification log, for export and for other audit tools."""

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
import typer
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import LogEntry

from .events import describe, public
from .options import Db, open_tidings
from .output import emit, fail, progress, table, user_errors

__all__ = ["FOLLOW_EVERY", "Exported", "log_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

# How often --follow looks for new entries, in seconds.
FOLLOW_EVERY = 0.5


class Exported(msgspec.Struct, frozen=True, kw_only=True):
    """One log entry as exported: `event` is the stored event's fields with its `type`
    tag, secrets masked; `at` is when it happened."""

    position: int
    stream: UUID
    version: int
    kind: str
    at: datetime | None
    event: object


def _exported(entry: LogEntry) -> Exported:
    return Exported(position=entry.position, stream=entry.stream, version=entry.version,
                    kind=entry.topic, at=getattr(entry.event, "at", None),
                    event=public(entry.event))  # fmt: skip


def _read(tidings: Tidings, start: int, follow: bool) -> Iterator[LogEntry]:
    """The log from `start`; with `follow`, then each new entry as it comes, for ever."""
    position = start
    while True:
        for entry in tidings.log(position):
            position = entry.position + 1
            yield entry
        if not follow:
            return
        time.sleep(FOLLOW_EVERY)


def _with_progress(tidings: Tidings, start: int) -> Iterator[LogEntry]:
    """The log from `start`, with a bar on stderr when it is long."""
    total = max(tidings.last_position() - start + 1, 0)
    with progress(total, "reading the log") as bar:
        task = bar.add_task("log", total=total)
        for entry in _read(tidings, start, follow=False):
            bar.advance(task)
            yield entry


@commands.command(
    "log",
    epilog="Examples: tidings log --from 1000 --jsonl > log.jsonl | tidings log --follow --jsonl",
)
def log_command(
    start: Annotated[int, typer.Option("--from", min=1, help="First position.")] = 1,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new entries (until Ctrl-C).")
    ] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per line (for export).")
    ] = False,
    db: Db = "tidings.db",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """The notification log, oldest first: position, stream, version, kind, time and the
    event (password digests and signing secrets show as ***)."""
    if follow and not jsonl:
        raise fail("--follow prints JSON lines: add --jsonl", 2)
    if as_json and jsonl:
        raise fail("--json and --jsonl exclude each other", 2)
    encode = msgspec.json.Encoder().encode
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        if jsonl:
            entries = _read(tidings, start, follow) if follow else _with_progress(tidings, start)
            try:
                for entry in entries:
                    typer.echo(encode(_exported(entry)).decode())
            except KeyboardInterrupt:  # how --follow ends
                pass
            return
        read = list(_with_progress(tidings, start))
    rows = [(e.position, getattr(e.event, "at", None), e.topic, describe(e.event)) for e in read]
    emit([_exported(e) for e in read], as_json,
         lambda: table(None, ("position", "at", "kind", "what"), rows))  # fmt: skip
