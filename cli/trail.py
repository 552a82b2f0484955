"""`tidings trail`: the whole story of an operation or a notification, as a timeline."""

from datetime import datetime
from typing import Annotated

import typer
from msgspec import Struct
from rich.table import Table
from tidings.adapters.library import TrailEntry
from tidings.adapters.numbers import whole_number

from .events import describe, public
from .options import Db, examples, open_tidings
from .output import Json, emit, fail, table, usage, user_errors

__all__ = ["timeline", "trail_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


class _Step(Struct, frozen=True, kw_only=True):
    """One trail entry as `--json` prints it (secrets masked)."""

    position: int
    at: datetime
    stream: str
    kind: str
    event: object


def _notification(text: str) -> tuple[str, int]:
    login, _, ident = text.rpartition(":")
    number = whole_number(ident)  # ASCII digits only: an Arabic-Indic one is no id
    if not login or number is None:
        raise usage(f"--notification is LOGIN:ID, e.g. tester:2691, not {text!r}")
    return login, number


@commands.command(
    "trail",
    epilog=examples(
        "tidings trail 1286957874.1271.15706",
        "tidings trail --cltrid AvrX87Kqk6h3",
        "tidings trail --notification tester:2691",
    ),
)
def trail_command(
    svtrid: Annotated[
        str | None, typer.Argument(metavar="SVTRID", help="The operation's svTRID.")
    ] = None,
    cltrid: Annotated[str | None, typer.Option(help="The client's clTRID instead.")] = None,
    notification: Annotated[
        str | None, typer.Option(metavar="LOGIN:ID", help="A notification instead.")
    ] = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Everything that happened to an operation and its notification, in log order:
    accepted, steps, ended, queued, retrieved, each push attempt with status and duration,
    given up, requeued, acked."""
    given = [key for key in (svtrid, cltrid, notification) if key is not None]
    if len(given) != 1:
        raise usage("give one of SVTRID, --cltrid or --notification")
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        if notification is not None:
            entries = tidings.trail(notification=_notification(notification))
        elif cltrid is not None:
            entries = tidings.trail(cltrid=cltrid)
        else:
            entries = tidings.trail(svtrid)
    if not entries:
        raise fail(f"nothing in the log about {given[0]!r}")
    emit([_step(entry) for entry in entries], as_json, lambda: timeline(entries))


def timeline(entries: list[TrailEntry], title: str | None = None) -> Table:
    """A trail as people read it: position, time, stream, what happened."""
    rows = [(e.position, e.at.isoformat(), e.stream, describe(e.event)) for e in entries]
    return table(title, ("position", "at", "stream", "what"), rows)


def _step(entry: TrailEntry) -> _Step:
    return _Step(position=entry.position, at=entry.at, stream=entry.stream,
                 kind=entry.kind, event=public(entry.event))  # fmt: skip
