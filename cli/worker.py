"""`tidings worker`: the due work (pushes, endings) alone, beside `tidings serve --no-worker`
or beside other workers on one database."""

import logging
import signal

import anyio
import typer
from tidings.adapters.http.app import ending_rules
from tidings.adapters.logs import setup_logging
from tidings.adapters.push.due import DueWork
from tidings.adapters.push.mail import SmtpServer

from .options import Db, open_tidings
from .running import check_environment, check_running

__all__ = ["worker_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

_log = logging.getLogger("tidings.worker")


@commands.command(
    "worker", epilog="Example: tidings worker --db postgresql://tidings@db.internal/tidings"
)
def worker_command(
    db: Db = "tidings.db",
    in_flight: int = typer.Option(64, min=1, max=4096, help="Attempts made at once."),
    ping_delay: float = typer.Option(1.0, help="Seconds until a ping-async ends."),
    job_delay: float = typer.Option(1.0, help="Seconds until a Merchants job ends."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    log_format: str = typer.Option(
        "readable", help="readable (a line of text a record) or json (a JSON object a line)."
    ),
) -> None:
    """Push notifications (URL, e-mail) and end the server's own operations, until
    SIGINT/SIGTERM. Any number of workers and servers may share one database: each
    attempt is claimed with a lease, and a worker that dies leaves its claims to run
    out, to be taken over by the others. E-mail goes through TIDINGS_SMTP_URL."""
    check_running(log_level, log_format, ping_delay, job_delay)
    check_environment()
    smtp = SmtpServer.from_env()
    tidings = open_tidings(db)
    setup_logging(log_level, log_format)
    runner = DueWork(
        tidings, endings=ending_rules(ping_delay, job_delay), smtp=smtp, in_flight=in_flight
    )

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await group.start(runner.run)
            _log.info("worker %s started", runner.claimant)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    group.cancel_scope.cancel()
                    break

    try:
        anyio.run(main)
    finally:
        tidings.close()
