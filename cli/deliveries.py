"""`tidings deliveries`, `tidings redeliver`, `tidings endpoint ...`: pushed notifications,
the ones that gave up, and the health of the endpoints they go to."""

from typing import Annotated

import typer
from tidings.adapters.push.views import DeliveryView, EndpointView
from tidings.domain.delivery import DeliveryStatus

from .accounts import Login
from .options import Db, Operator, acting, every_login, examples, open_tidings
from .output import Json, emit, table, user_errors
from .state import parse_time

__all__ = ["deliveries_command", "endpoint_app", "redeliver_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

endpoint_app = typer.Typer(
    help="The health of push endpoints.",
    epilog=examples("tidings endpoint list shop", "tidings endpoint resume shop"),
    no_args_is_help=True,
)

_COLUMNS = ("account", "id", "medium", "target", "status", "attempts", "last", "next attempt",
            "gave up")  # fmt: skip


def _row(v: DeliveryView) -> tuple[object, ...]:
    last = v.last_error or (str(v.last_status) if v.last_status is not None else None)
    return (v.login, v.notification_id, v.medium, v.target, v.status, v.attempts, last,
            v.next_attempt_at.isoformat() if v.next_attempt_at else None,
            v.gave_up_reason or None)  # fmt: skip


@commands.command(
    "deliveries",
    epilog=examples("tidings deliveries --given-up", "tidings deliveries --account shop"),
)
def deliveries_command(
    given_up: Annotated[bool, typer.Option("--given-up", help="Only those that gave up.")] = False,
    account: Annotated[str | None, typer.Option(help="Only this account's.")] = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Pushed notifications (by URL or e-mail), oldest first per account: where to, how
    each stands, its last attempt and, for one that gave up, why."""
    status: DeliveryStatus | None = "gave_up" if given_up else None
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        logins = [account] if account is not None else every_login(tidings)
        views = [v for login in logins for v in tidings.deliveries(login, status=status)]
    emit(views, as_json, lambda: table(None, _COLUMNS, [_row(v) for v in views]))


@commands.command(
    "redeliver",
    epilog=examples(
        "tidings redeliver shop 2691",
        "tidings redeliver shop --since \"$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)\"",
        "tidings redeliver shop",
        "tidings redeliver shop 2691 --delivered",
    ),
)
def redeliver_command(
    login: Login,
    notification_id: Annotated[
        int | None, typer.Argument(metavar="ID", help="One notification; else every one.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only those that gave up since (ISO 8601 with zone).")
    ] = None,
    delivered: Annotated[
        bool,
        typer.Option("--delivered", help="Delivered ones too: pushed again, recorded as resent."),
    ] = False,
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Push given-up notifications again, on a fresh retry schedule: one, those that gave
    up since a time, or every one of the account's; with --delivered, those that were
    delivered too (the trail shows each as sent again)."""
    when = parse_time(since) if since is not None else None
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        by = acting(operator, "redeliver")
        requeued = tidings.redeliver(login, notification_id, since=when, delivered=delivered, by=by)
    shown = ", ".join(map(str, requeued))
    emit({"login": login, "requeued": requeued}, as_json, lambda: f"requeued: {shown}")


def _endpoint_rows(views: list[EndpointView]) -> list[tuple[object, ...]]:
    return [(v.login, v.target, "paused" if v.paused else "healthy", v.consecutive_failures,
             v.next_probe_at.isoformat() if v.next_probe_at else None)
            for v in views]  # fmt: skip


@endpoint_app.command(
    "list",
    short_help="Push endpoints and their health.",
    epilog=examples("tidings endpoint list shop", "tidings endpoint list --paused"),
)
def endpoint_list_command(
    login: Annotated[
        str | None, typer.Argument(metavar="LOGIN", help="One account's; else every one's.")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Only the paused ones.")] = False,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Push endpoints (one account's, or every account's): paused or not, failures in a
    row, next probe."""
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        if login is None:
            views = tidings.all_endpoints(paused_only=paused)
        else:
            views = [v for v in tidings.endpoints(login) if v.paused or not paused]
    columns = ("account", "target", "state", "failures in a row", "next probe")
    emit(views, as_json, lambda: table(login, columns, _endpoint_rows(views)))


@endpoint_app.command(
    "resume",
    short_help="Resume a paused endpoint by hand.",
    epilog=examples("tidings endpoint resume shop"),
)
def endpoint_resume_command(
    login: Login,
    target: Annotated[
        str | None, typer.Option(help="One URL or address; else each of the account's.")
    ] = None,
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Resume a paused endpoint by hand: its waiting deliveries go out again."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        resumed = tidings.resume_endpoint(login, target, by=acting(operator, "resume-endpoint"))
    shown = ", ".join(resumed)
    emit({"login": login, "resumed": resumed}, as_json, lambda: f"resumed: {shown}")
