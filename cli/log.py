"""`tidings log`: the notification log, for export and for other audit tools."""

import base64
import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
import typer
from tidings.adapters.ledger.entries import entry_bytes, leaf_hash, stream_bytes
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import LogEntry

from .events import StreamLogins, describe, public
from .options import Db, every_login, examples, open_tidings
from .output import emit, progress, table, usage, user_errors

__all__ = ["FOLLOW_EVERY", "Exported", "log_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

# How often --follow looks for new entries, in seconds.
FOLLOW_EVERY = 0.5
_PAGE = 1000


class Exported(msgspec.Struct, frozen=True, kw_only=True):
    """One log entry as exported: `event` is the stored event's fields with its `type`
    tag, secrets masked; `at` is when it happened; `login` the account its stream
    belongs to (None for a stream of no account). `leaf`: its leaf hash in the log's
    Merkle tree (hex; the entries in order are the tree's leaves, so its roots can be
    recomputed from an export); `entry`: the bytes that leaf hashes (base64, see
    `merkle.entry_bytes`), None where the event holds a secret."""

    position: int
    stream: UUID
    login: str | None
    version: int
    kind: str
    at: datetime | None
    event: object
    leaf: str = ""
    entry: str | None = None


def _exported(entry: LogEntry, raw: bytes | None, login: str | None) -> Exported:
    shown = public(entry.event)
    secret = shown != msgspec.to_builtins(entry.event)
    leaf = leaf_hash(raw).hex() if raw is not None else ""
    bytes_ = base64.b64encode(raw).decode() if raw is not None and not secret else None
    return Exported(position=entry.position, stream=entry.stream, login=login,
                    version=entry.version,
                    kind=entry.topic, at=getattr(entry.event, "at", None),
                    event=shown, leaf=leaf, entry=bytes_)  # fmt: skip


def _with_bytes(
    tidings: Tidings, entries: Iterator[LogEntry], size: int, logins: StreamLogins
) -> Iterator[Exported]:
    """Each entry exported with its leaf's bytes and login, read `size` entries at a time."""
    recorder = tidings.store.recorder
    while page := list(itertools.islice(entries, size)):
        rows = recorder.scan(page[0].position, page[-1].position)
        raw = {r[0]: entry_bytes(r[0], stream_bytes(r[1]), r[2], r[3], r[4]) for r in rows}
        for entry in page:
            yield _exported(entry, raw.get(entry.position), logins.login(entry.stream, entry.event))


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
    epilog=examples("tidings log --from 1000 --jsonl > log.jsonl", "tidings log --follow --jsonl"),
)
def log_command(
    start: Annotated[int, typer.Option("--from", min=1, max=2**63 - 1, help="First position.")] = 1,
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
    event (password digests and signing secrets show as ***); with --jsonl also each
    entry's leaf hash and bytes, from which the log's Merkle roots are recomputed."""
    if follow and not jsonl:
        raise usage("--follow prints JSON lines: add --jsonl")
    if as_json and jsonl:
        raise usage("--json and --jsonl exclude each other")
    encode = msgspec.json.Encoder().encode
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        logins = StreamLogins(every_login(tidings))
        if start > 1:
            logins.learn(tidings.log(1, topics=StreamLogins.NAMING, stop=start - 1))
        if jsonl:
            entries = _read(tidings, start, follow) if follow else _with_progress(tidings, start)
            try:
                for line in _with_bytes(tidings, entries, 1 if follow else _PAGE, logins):
                    typer.echo(encode(line).decode())
            except KeyboardInterrupt:  # how --follow ends
                pass
            return
        read = list(_with_progress(tidings, start))
        exported = list(_with_bytes(tidings, iter(read), _PAGE, logins)) if as_json else []
    rows = [(e.position, getattr(e.event, "at", None), logins.login(e.stream, e.event), e.topic,
             describe(e.event)) for e in read]  # fmt: skip
    emit(exported, as_json,
         lambda: table(None, ("position", "at", "login", "kind", "what"), rows))  # fmt: skip
