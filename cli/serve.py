"""`tidings serve` (the HTTP server) and `tidings account add`."""

import logging
import sys

import typer
import uvicorn
from tidings.adapters.http.access_log import JsonLines
from tidings.adapters.http.app import Settings, create_app
from tidings.adapters.library import Rejected

from .app import app
from .options import Db, open_store, open_tidings

__all__ = ["account_add_command", "account_app", "serve_command"]

account_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(account_app, name="account")


def _log_json_lines(level: str) -> None:
    """Send every log record (ours and uvicorn's) to stderr as one JSON line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@app.command("serve")
def serve_command(
    db: Db = "tidings.db",
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    ping_delay: float = typer.Option(1.0, help="Seconds until a ping-async ends."),
    job_delay: float = typer.Option(1.0, help="Seconds until a Merchants job ends."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Leave pushes and endings to `tidings worker` processes."
    ),
) -> None:
    """Serve WAPI (/wapi/xml, /wapi/json), the JSON API (/api, token from
    TIDINGS_ADMIN_TOKEN), Merchants jobs (/merchants) and /healthz until SIGINT/SIGTERM;
    requests in flight are finished before the store is closed."""
    open_store(db).close()  # a database that cannot be opened is one clear line, not a log
    _log_json_lines(log_level)
    settings = Settings.from_env(
        db, ping_delay=ping_delay, job_delay=job_delay, worker=not no_worker
    )
    if settings.admin_digest is None:
        logging.getLogger("tidings.server").warning(
            "TIDINGS_ADMIN_TOKEN is not set: the JSON API answers 401 to every request"
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # keep the JSON-lines logging set up above
        access_log=False,  # ours (tidings.access) says more, in JSON
        lifespan="on",
        timeout_graceful_shutdown=30,
    )


@account_app.command("add")
def account_add_command(
    login: str = typer.Argument(..., help="The account's login (WAPI user)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    db: Db = "tidings.db",
) -> None:
    """Open a polling account. The password comes from standard input only, so it never
    shows in the process list or the shell history."""
    if not password_stdin:
        typer.echo("error: give the password on standard input with --password-stdin", err=True)
        raise typer.Exit(2)
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        typer.echo("error: the password is empty", err=True)
        raise typer.Exit(2)
    try:
        with open_tidings(db) as tidings:
            tidings.open_account(login, password)
    except Rejected as rejected:
        typer.echo(f"error: {int(rejected.code)} {rejected.text}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"opened account {login}")
