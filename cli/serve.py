"""`tidings serve`: the HTTP server."""

import logging
import sys

import typer
import uvicorn
from tidings.adapters.http.access_log import JsonLines
from tidings.adapters.http.app import Settings, create_app

from .app import app
from .options import Db, open_store

__all__ = ["serve_command"]


def _log_json_lines(level: str) -> None:
    """Send every log record (ours and uvicorn's) to stderr as one JSON line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@app.command("serve", epilog="Example: TIDINGS_ADMIN_TOKEN=... tidings serve --port 8080")
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
