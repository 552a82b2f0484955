"""`tidings state`: one stream as it was at a given time, rebuilt from the log."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer
from tidings.adapters.numbers import whole_number
from tidings.domain import ACCOUNT, DELIVERY, MAILBOX, OPERATION, Decider
from tidings.domain import delivery as dlv
from tidings.domain.mailbox import MailboxSnapshot, MailboxState

from .events import public
from .options import Db, examples, open_tidings
from .output import Json, emit, fail, readable, table, usage, user_errors

__all__ = ["Kind", "parse_time", "state_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


Kind = Literal["account", "operation", "mailbox", "delivery"]
_KINDS: dict[str, Decider[Any, Any, Any]] = {
    d.category: d for d in (ACCOUNT, OPERATION, MAILBOX, DELIVERY)
}


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (`YYYY-MM-DDTHH:MM:SSZ`); one line and exit 2
    for anything else."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise usage(f"not an ISO 8601 time: {text!r} (e.g. now: {now})") from None
    if at.tzinfo is None:
        raise usage(f"give the time zone too: {text}Z for UTC")
    return at


def _shown(state: Any) -> Any:
    """What is printed of a state: secrets masked, a mailbox's queue as a plain list."""
    if isinstance(state, MailboxState):
        state = MailboxSnapshot.of(state)
    return public(state)


def _stream_key(kind: Kind, key: str) -> str:
    """The stream's key as stored: a delivery is LOGIN:ID on the command line (as in
    `trail` and `prove`; the older LOGIN/ID is still taken)."""
    if kind != "delivery":
        return key
    login, _, ident = key.replace("/", ":").rpartition(":")
    number = whole_number(ident)  # ASCII digits only: an Arabic-Indic one is no id
    if not login or number is None:
        raise usage(f"a delivery is LOGIN:ID, e.g. tester:2691, not {key!r}")
    return dlv.key(login, number)


@commands.command(
    "state",
    epilog=examples(
        'tidings state mailbox tester --at "$(date -u -d yesterday +%Y-%m-%dT%H:%M:%SZ)"',
        "tidings state delivery tester:2691 --json",
    ),
)
def state_command(
    kind: Annotated[Kind, typer.Argument(metavar="KIND", help="The kind of stream.")],
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY", help="Its key: a login, a svTRID, or LOGIN:ID for a delivery."
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="ISO 8601 time with its zone [default: now]."),
    ] = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """A stream (account, operation, mailbox or delivery) as it was at a time: its events
    up to then, folded again from the log. Secrets show as ***. A stream with no events
    by then is an error (exit 1)."""
    when = parse_time(at) if at is not None else datetime.now(UTC)
    stored = _stream_key(kind, key)
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        found = tidings.state_at(_KINDS[kind], stored, when)
        # An account's mailbox exists (empty) before its first notification.
        named = found != _KINDS[kind].initial or (
            kind == "mailbox" and tidings.state_at(ACCOUNT, key, when) != ACCOUNT.initial
        )
    if not named:
        raise fail(f"no {kind} {key!r} in the log by {when.isoformat()}")
    state = _shown(found)
    rows = [(name, readable(value)) for name, value in state.items()]
    title = f"{kind} {key} at {when.isoformat()}"
    emit(state, as_json, lambda: table(title, ("field", "value"), rows))
