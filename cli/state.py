"""`tidings state`: one stream as it was at a given time, rebuilt from the log."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer
from tidings.domain import ACCOUNT, DELIVERY, MAILBOX, OPERATION, Decider
from tidings.domain.mailbox import MailboxSnapshot, MailboxState

from .events import public
from .options import Db, open_tidings
from .output import Json, emit, fail, table, user_errors

__all__ = ["Kind", "parse_time", "state_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


Kind = Literal["account", "operation", "mailbox", "delivery"]
_KINDS: dict[str, Decider[Any, Any, Any]] = {
    d.category: d for d in (ACCOUNT, OPERATION, MAILBOX, DELIVERY)
}


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (`2026-11-22T10:00:00Z`); one line and exit 2
    for anything else."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-22T10:00:00Z)", 2) from None
    if at.tzinfo is None:
        raise fail(f"give the time zone too: {text}Z for UTC", 2)
    return at


def _shown(state: Any) -> Any:
    """What is printed of a state: secrets masked, a mailbox's queue as a plain list."""
    if isinstance(state, MailboxState):
        state = MailboxSnapshot.of(state)
    return public(state)


@commands.command(
    "state",
    epilog="Examples: tidings state mailbox tester --at 2026-11-22T10:00:00Z"
    " | tidings state delivery tester/2691",
)
def state_command(
    kind: Annotated[Kind, typer.Argument(help="The kind of stream.")],
    key: Annotated[
        str,
        typer.Argument(help="Its key: a login, a svTRID, or LOGIN/ID for a delivery."),
    ],
    at: Annotated[str | None, typer.Option(help="ISO 8601 time with zone [default: now].")] = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """A stream (account, operation, mailbox or delivery) as it was at a time: its events
    up to then, folded again from the log. Secrets show as ***."""
    when = parse_time(at) if at is not None else datetime.now(UTC)
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        state = _shown(tidings.state_at(_KINDS[kind], key, when))
    rows = [(name, value) for name, value in state.items()]
    title = f"{kind} {key} at {when.isoformat()}"
    emit(state, as_json, lambda: table(title, ("field", "value"), rows))
