"""`tidings serve`: the HTTP server."""

import dataclasses
import functools
import logging
import os
import shutil
import socket

import typer
import uvicorn
from tidings.adapters.http.app import Settings, create_app, worker_app
from tidings.adapters.http.context import throttle_file
from tidings.adapters.http.limits import DEFAULT_LIMITS as _DEFAULT
from tidings.adapters.http.limits import (
    Limits,
    connections_that_fit,
    server_config,
    trusted_networks,
)
from tidings.adapters.http.metrics import MULTIPROC_ENV
from tidings.adapters.http.workers import (
    FAILED,
    Served,
    listening_socket,
    serve_workers,
    shared_directory,
)
from tidings.adapters.logs import setup_logging
from tidings.adapters.store.failure_file import FailureFile

from .options import Db, open_store
from .output import fail, usage
from .running import (
    MOST_COUNT,
    MOST_SECONDS,
    at_least,
    check_environment,
    check_running,
)

__all__ = ["serve_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


# More workers than this is a typo, not a plan: each holds its own cache and connections.
_MOST_WORKERS = 64


def _cpus() -> int:
    """The CPUs this process may run on (the default number of workers)."""
    return len(os.sched_getaffinity(0)) or 1


@commands.command("serve", epilog="Example: TIDINGS_ADMIN_TOKEN=... tidings serve --port 8080")
def serve_command(
    db: Db = "tidings.db",
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on (0: any free port)."),
    ping_delay: float = typer.Option(1.0, help="Seconds until a ping-async ends."),
    job_delay: float = typer.Option(1.0, help="Seconds until a Merchants job ends."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    log_format: str = typer.Option(
        "readable", help="readable (a line of text a record) or json (a JSON object a line)."
    ),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Leave pushes and endings to `tidings worker` processes."
    ),
    trusted_proxies: str = typer.Option(
        "", help="CIDR,... of proxies whose X-Forwarded-For is believed (default: none)."
    ),
    head_timeout: float = typer.Option(
        _DEFAULT.head_timeout, help="Seconds a request's head may take to arrive."
    ),
    max_head: int = typer.Option(_DEFAULT.max_head, help="Bytes a request's head may take."),
    body_timeout: float = typer.Option(
        _DEFAULT.body_timeout, help="Seconds a request's body may take, after its head."
    ),
    keep_alive: int = typer.Option(
        _DEFAULT.keep_alive, help="Seconds an idle kept-alive connection stays open."
    ),
    max_connections: int = typer.Option(
        _DEFAULT.max_connections, help="Open connections; past it requests get 503."
    ),
    backlog: int = typer.Option(_DEFAULT.backlog, help="Connections waiting to be accepted."),
    max_depth: int = typer.Option(
        _DEFAULT.max_depth, help="Deepest nesting of a JSON API or Merchants body."
    ),
    auth_failures: int = typer.Option(
        _DEFAULT.auth_failures_per_address,
        help="Failed authentications a minute per client address, and per login.",
    ),
    auth_floor: float = typer.Option(
        _DEFAULT.auth_floor, help="Least seconds before a failed authentication is answered."
    ),
    ready_interval: float = typer.Option(
        _DEFAULT.ready_interval, help="Least seconds between /readyz heartbeat writes."
    ),
    workers: int | None = typer.Option(
        None,
        help="Server processes on the one port and database [default: the CPU count]. "
        "Each ends the operations it accepted; the first also makes the pushes.",
        show_default=False,
    ),
) -> None:
    """Serve WAPI (/wapi/xml, /wapi/json), the JSON API (/api, token from
    TIDINGS_ADMIN_TOKEN; its reference at /docs), Merchants jobs (/merchants), the
    customer center (/center/) and the operator console (/console/), the signed log
    (/log/), /healthz, /readyz and /metrics until SIGINT/SIGTERM; requests in flight are
    finished before the store is closed. Pushes go out from here too, unless --no-worker.

    With several workers, each is a process answering on the same port; they share the
    database, the failed-login throttle and /metrics' counters.
    """
    processes = _cpus() if workers is None else workers
    if not 1 <= processes <= _MOST_WORKERS:
        raise usage(f"--workers must be 1-{_MOST_WORKERS}, not {processes}")
    check_running(log_level, log_format, ping_delay, job_delay)
    check_environment()
    if not host.strip():  # "" would listen on every interface
        raise usage("--host is an address to listen on, e.g. 127.0.0.1 (0.0.0.0: every one)")
    if not 0 <= port <= 65535:
        raise usage(f"--port must be 0-65535, not {port}")
    for value, least, most, option in [
        (head_timeout, 0.1, MOST_SECONDS, "--head-timeout"),
        (max_head, 1024, MOST_COUNT, "--max-head"),
        (body_timeout, 0.1, MOST_SECONDS, "--body-timeout"),
        (keep_alive, 1, MOST_SECONDS, "--keep-alive"),
        (max_connections, 1, MOST_COUNT, "--max-connections"),
        (backlog, 1, MOST_COUNT, "--backlog"),
        (max_depth, 1, MOST_COUNT, "--max-depth"),
        (auth_failures, 1, MOST_COUNT, "--auth-failures"),
        (auth_floor, 0, 60, "--auth-floor"),
        (ready_interval, 0, MOST_SECONDS, "--ready-interval"),
    ]:
        at_least(value, least, option, most)
    try:
        proxies = trusted_networks(trusted_proxies)
    except ValueError as error:
        raise usage(f"--trusted-proxies: {error}") from None
    # An address that cannot be listened on (in use, not this host's) makes no database;
    # either is one clear line, not a log, and leaves the process's logging as it was (a
    # new database is logged).
    try:
        sock = listening_socket(host, port, backlog)
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port}: {error}", FAILED) from None
    try:
        open_store(db, say_created=False).close()
    except BaseException:
        sock.close()
        raise
    setup_logging(log_level, log_format)
    log = logging.getLogger("tidings.server")
    fit = connections_that_fit(max_connections)
    if fit < max_connections:
        log.warning("only %d connections fit the open-files limit: the cap is %d", fit, fit)
    limits = Limits(
        head_timeout=head_timeout,
        max_head=max_head,
        body_timeout=body_timeout,
        keep_alive=keep_alive,
        max_connections=fit,
        backlog=backlog,
        max_depth=max_depth,
        auth_failures_per_address=auth_failures,
        auth_failures_per_login=auth_failures,
        auth_floor=auth_floor,
        ready_interval=ready_interval,
    )
    settings = Settings.from_env(
        db, ping_delay=ping_delay, job_delay=job_delay, worker=not no_worker, limits=limits
    )
    if settings.admin_digest is None:
        log.warning("TIDINGS_ADMIN_TOKEN is not set: the JSON API answers 401 to every request")
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    # Every layout says where it listens, the real port too when it was chosen (--port 0).
    log.info(
        {
            "event": "listening",
            "message": f"listening on http://{shown}:{bound_port}",
            "host": bound_host,
            "port": bound_port,
            "workers": processes,
        }
    )
    with sock:
        if processes > 1:
            setup = functools.partial(setup_logging, log_level, log_format)
            _serve_processes(settings, sock, proxies, setup, processes)
        else:
            _serve_one(settings, sock, proxies)


def _serve_one(settings: Settings, sock: socket.socket, proxies: tuple[str, ...]) -> None:
    host, port = sock.getsockname()[:2]
    config = server_config(
        create_app(settings),
        settings.limits,
        host=host,
        port=port,
        trusted_proxies=proxies,
        log_config=None,  # keep the logging set up above
        access_log=False,  # ours (tidings.access) says more
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(FAILED)  # uvicorn has logged why


def _serve_processes(
    settings: Settings,
    sock: socket.socket,
    proxies: tuple[str, ...],
    setup: "functools.partial[None]",
    processes: int,
) -> None:
    # The workers' shared files: the throttle's failures and the metrics' values
    # (prometheus_client's multiprocess mode, which reads the variable when it is imported:
    # the workers inherit it, spawned after it is set).
    shared = shared_directory()
    metrics = os.path.join(shared, "metrics")
    os.mkdir(metrics)
    os.environ[MULTIPROC_ENV] = metrics
    FailureFile(throttle_file(shared)).close()  # made once, before the workers open it
    settings = dataclasses.replace(settings, shared_dir=shared)
    served = Served(
        app=functools.partial(worker_app, settings),
        limits=settings.limits,
        setup=setup,
        trusted_proxies=proxies,
        # The same as one worker's: our logging, our access log.
        options=(("log_config", None), ("access_log", False), ("lifespan", "on")),
    )
    status = serve_workers(
        served, sock, processes, functools.partial(shutil.rmtree, shared, ignore_errors=True)
    )
    if status:
        raise typer.Exit(status)
