"""`tidings stats`: the figures an operator looks at first."""

from datetime import UTC, datetime

import typer
from msgspec import Struct
from tidings.adapters.audit.tally import LogFigures, TallyView
from tidings.adapters.store.environment import LOG
from tidings.adapters.store.followers import Catchup

from .options import Db, examples, open_tidings
from .output import Json, age, emit, progress, table, user_errors

__all__ = ["Stats", "stats_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

_STATES = ("scheduled", "in_flight", "succeeded", "gave_up")


class Stats(Struct, frozen=True, kw_only=True):
    """What `--json` prints. `failure_rate` is failed / attempts of the last hour (None
    without attempts)."""

    accounts: int
    queued: int
    oldest_queued_at: datetime | None
    deliveries: dict[str, int]
    attempts_last_hour: int
    failed_last_hour: int
    failure_rate: float | None


@commands.command("stats", epilog=examples("tidings stats", "tidings stats --json"))
def stats_command(db: Db = "tidings.db", as_json: Json = False) -> None:
    """Accounts, notifications queued and the oldest of them, deliveries by state, and
    the last hour's push attempts with their failure rate, read from the log."""
    figures = LogFigures(TallyView())
    now = datetime.now(UTC)
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        total = tidings.last_position()
        with progress(total, "reading the log") as bar:
            task = bar.add_task("stats", total=total)
            Catchup(figures, LOG).catch_up(tidings, lambda p: bar.update(task, completed=p))
        tally = figures.view.tally
        waiting = [login for login, count in tally.queued.items() if count > 0]
        oldest = min(filter(None, (tidings.mailbox(login).oldest_at for login in waiting)),
                     default=None)  # fmt: skip
    attempts, failed = tally.recent_attempts(now)
    stats = Stats(
        accounts=tally.accounts,
        queued=sum(tally.queued.values()),
        oldest_queued_at=oldest,
        deliveries={state: tally.deliveries[state] for state in _STATES},
        attempts_last_hour=attempts,
        failed_last_hour=failed,
        failure_rate=failed / attempts if attempts else None,
    )
    rate = f"{stats.failure_rate:.1%}" if stats.failure_rate is not None else "-"
    rows = [
        ("accounts", stats.accounts),
        ("queued", stats.queued),
        ("oldest queued", age(oldest, now) or "-"),
        *((f"deliveries {state}", n) for state, n in stats.deliveries.items()),
        ("attempts, last hour", attempts),
        ("failed, last hour", f"{failed} ({rate})"),
    ]
    emit(stats, as_json, lambda: table(None, ("figure", "value"), rows))
