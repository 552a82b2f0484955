"""`tidings queue`, `tidings poll`, `tidings ack`: an account's poll queue, seen and
worked as its client would (for support work)."""

from typing import Annotated

import typer
from tidings.adapters.http.api_types import QueueView, queue_view
from tidings.adapters.numbers import whole_number
from tidings.domain import Notification

from .accounts import Login
from .options import Db, examples, open_tidings, operator_option
from .output import Json, age, emit, fail, table, usage, user_errors

__all__ = ["ack_command", "poll_command", "queue_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

_COLUMNS = ("id", "code", "result", "command", "clTRID", "svTRID", "queued", "first polled")


def _row(n: Notification) -> tuple[object, ...]:
    o = n.outcome
    return (n.id, o.code, o.result, o.command, o.cltrid, o.svtrid, o.timestamp.isoformat(),
            n.retrieved_at.isoformat() if n.retrieved_at else None)  # fmt: skip


def _people(view: QueueView) -> object:
    title = f"{view.login}: {view.count} queued"
    if view.oldest_at is not None:
        title += f", the oldest for {age(view.oldest_at)}"
    return table(title, _COLUMNS, [_row(n) for n in view.notifications])


@commands.command("queue", epilog=examples("tidings queue tester --first 20"))
def queue_command(
    login: Login,
    first: Annotated[int, typer.Option(min=0, max=1000, help="How many to list.")] = 10,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """An account's poll queue: how many notifications wait, for how long the oldest,
    and the first of them, oldest first. Changes nothing."""
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        if tidings.account(login) is None:
            raise fail(f"no account {login!r}")
        view = queue_view(login, tidings.mailbox(login), first)
    emit(view, as_json, lambda: _people(view))


@commands.command("poll", epilog=examples("tidings poll tester"))
def poll_command(login: Login, db: Db = "tidings.db", as_json: Json = False) -> None:
    """poll-req as the client sends it: the oldest unacked notification (1000), 1003 when
    the queue is empty, 2150 when the account does not poll. Recorded like the client's."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        answer = tidings.poll(login)
    notification = answer.notification

    def people() -> object:
        if notification is None:
            return f"{int(answer.code)} {answer.text}"
        shown = table(f"{int(answer.code)} {answer.text}: {answer.count} queued", _COLUMNS,
                      [_row(notification)])  # fmt: skip
        return shown

    emit(answer, as_json, people)
    if not answer.code.is_success:
        raise typer.Exit(1)


@commands.command(
    "ack",
    epilog=examples("tidings ack tester 2691", "tidings ack tester 2691 --up-to --operator alice"),
)
def ack_command(
    login: Login,
    notification_id: Annotated[str, typer.Argument(metavar="ID", help="The head's id.")],
    up_to: Annotated[
        bool,
        typer.Option(
            "--up-to",
            help="An operator's ack of every queued notification up to ID, for a queue "
            "its client abandoned.",
        ),
    ] = False,
    operator: Annotated[
        str | None,
        operator_option("With --up-to: the operator it is recorded as (operator add)."),
    ] = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """poll-ack as the client sends it: 1002 for the head of the queue (or its re-ack),
    2151 for any other id, 2150 when the account does not poll. With --up-to: an
    operator acks the queue up to ID, whatever the account's channel or state, and the
    log records it as that operator's action."""
    if up_to:
        up_to_id = whole_number(notification_id)
        if not up_to_id:  # ASCII digits only: an Arabic-Indic one is no id
            raise usage(f"--up-to takes a notification id, 1 or more, not {notification_id!r}")
        if operator is None:
            raise usage("--up-to needs --operator NAME: the log records who acked")
        with user_errors(), open_tidings(db, must_exist=True) as tidings:
            acked = tidings.bulk_ack(login, up_to_id, by=operator)
        shown = f"acked {len(acked)}: {acked[0]}-{acked[-1]}"
        emit({"login": login, "acked": acked}, as_json, lambda: shown)
        return
    if operator is not None:
        raise usage("--operator goes with --up-to")
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        answer = tidings.ack(login, notification_id)
    emit(answer, as_json, lambda: f"{int(answer.code)} {answer.text}")
    if not answer.code.is_success:
        raise typer.Exit(1)
