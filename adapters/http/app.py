"""The tidings server: one Starlette app (WAPI, the JSON API, Merchants jobs, the signed
log's tiles, `/metrics`, `/healthz`, `/readyz` and the web pages)."""

import dataclasses
import gc
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from tidings.adapters import telemetry
from tidings.domain.operation import OperationState

from ..errors import DAMAGED, damaged_entry
from ..ledger.signer import signing_refusal, warn_unsigned
from ..library import StorageError, Tidings
from ..push.due import DueWork, EndingRule
from ..push.mail import SmtpServer
from ..store.environment import beat, environment, is_postgres
from ..wapi.request import Dialect
from ..web import web_routes
from .access_log import AccessLog
from .api import api_routes, http_error
from .context import Context, Settings
from .limits import BodyDeadline
from .merchants import JOB_COMMANDS, job_ending, merchants_routes
from .metrics import metrics_route
from .tiles import tiles_route
from .wapi import PING_ASYNC, WapiEndpoint, ping_ending

__all__ = [
    "FOREIGN_ENDINGS_AFTER",
    "Readiness",
    "Settings",
    "create_app",
    "ending_rules",
    "settle_heap",
    "worker_app",
]

_log = logging.getLogger("tidings.server")


def ending_rules(ping_delay: float, job_delay: float) -> dict[str, EndingRule]:
    """How the operations the server runs itself end: ping-async and Merchants jobs."""
    # Every ping ends alike: a fixed ending, which the runner sends without a read.
    rules = {PING_ASYNC: EndingRule(ping_delay, ping_ending(OperationState()))}
    rules.update({command: EndingRule(job_delay, job_ending) for command in JOB_COMMANDS})
    return rules


# The young generation's threshold while serving (Python's default: 700, which ran the
# collector every few requests: docs/decisions.md).
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Out of the collector's sight what start-up built and keeps (`gc.freeze` after a
    full collection), and a raised young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


_TIMEOUT = 5  # seconds a heartbeat may wait for a lock or a connection


class Readiness:
    """`/readyz`: whether the store at `db` can commit, by a heartbeat write
    (`store.environment.beat`) at most every `interval` seconds however often it is probed."""

    def __init__(
        self, db: str, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._interval = interval
        self._clock = clock
        self._server = f"{socket.gethostname()}/{os.getpid()}"
        self._checked: float | None = None
        self._reason: str | None = None
        self._lock = anyio.Lock()
        self.heartbeats = 0  # writes tried: shows that probes share them

    async def reason(self) -> str | None:
        """None when the store committed a heartbeat within `interval`; else why not."""
        async with self._lock:  # concurrent probes wait for one heartbeat, not one each
            now = self._clock()
            if self._checked is None or now - self._checked >= self._interval:
                self._reason = await anyio.to_thread.run_sync(self._beat)
                self._checked = self._clock()
            return self._reason

    def _beat(self) -> str | None:
        self.heartbeats += 1
        try:
            beat(self._db, self._server, _TIMEOUT)
        except Exception as error:
            reason = f"the store cannot commit: {_said(error, self._db)}"
            _log.warning("not ready: %s", reason)
            return reason
        return None


def _said(error: Exception, db: str) -> str:
    """The error's first line, never with the database password in it."""
    text = (str(error).strip().splitlines() or [""])[0]
    if is_postgres(db):
        password = environment(db)["POSTGRES_PASSWORD"]
        if password:
            text = text.replace(password, "***")
    return f"{type(error).__name__}: {text}"


def _refuse(app: Starlette, reason: str) -> NoReturn:
    """Log why the server does not start, on one line, and stop it without a traceback."""
    _log.error(reason)
    app.state.refused = True
    raise RuntimeError(reason)


class _Server(Starlette):
    """The Starlette app, with WAPI's POSTs served in front of its middleware and
    routing (`WapiEndpoint` applies what it needs of them inline)."""

    def __init__(self, wapi: Mapping[str, ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wapi = wapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._wapi.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            # A start-up `_refuse`d reaches uvicorn without Starlette's traceback to log.
            lifespan_send = send

            async def send(message: MutableMapping[str, Any]) -> None:
                refused = getattr(self.state, "refused", False)
                if refused and message["type"] == "lifespan.startup.failed":
                    message = {**message, "message": ""}
                await lifespan_send(message)

        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """The server app. Its start opens the store and, unless `Settings.worker` is off,
    starts the due-work runner (`push.due`); its stop, once uvicorn let in-flight
    requests finish, stops the runner (an attempt in flight is left to its lease) and
    closes the store. `app.state.context` holds the running parts (`Context`)."""
    context = Context(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tidings = await run_in_threadpool(Tidings, settings.db, clock=settings.clock)
        warn_unsigned(tidings.store.recorder.tree.signer)
        if (unmet := telemetry.unmet()) is not None:
            _log.warning(unmet)
        try:
            async with anyio.create_task_group() as group:
                context.start(tidings)
                if settings.worker:
                    rules = ending_rules(settings.ping_delay, settings.job_delay)
                    smtp = SmtpServer.from_env()
                    context.due = DueWork(
                        tidings,
                        endings=rules,
                        smtp=smtp,
                        clock=settings.clock,
                        deliveries=settings.deliveries,
                        foreign_endings_after=settings.foreign_endings_after,
                    )
                    try:
                        await group.start(context.due.run)
                    except DAMAGED as damaged:  # its index is rebuilt from the log's rows
                        _refuse(app, f"not serving: {damaged_entry(damaged)}")
                settle_heap()
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            context.stop()
            await run_in_threadpool(tidings.close)
            await run_in_threadpool(telemetry.flush)

    async def healthz(_: Request) -> Response:
        # The store is reachable when a read goes through.
        try:
            await run_in_threadpool(context.tidings.account, "healthz")
        except Exception as error:
            if not isinstance(error, StorageError):  # that one is logged once per outage
                _log.exception("health check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    readiness = Readiness(settings.db, settings.limits.ready_interval)

    async def readyz(_: Request) -> Response:
        reason = await readiness.reason() or signing_refusal()
        if reason is not None:
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ok"})

    wapi = {
        "/wapi/xml": WapiEndpoint(Dialect.XML, context),
        "/wapi/json": WapiEndpoint(Dialect.JSON, context),
    }
    routes = [
        # Reached only by other methods than POST (405): a POST is served in front.
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in wapi.items()),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        metrics_route(context),
        tiles_route(context),
        *api_routes(context),
        *merchants_routes(context),
        *web_routes(context),
    ]
    app = _Server(
        wapi, routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error}
    )
    app.state.context = context
    app.state.readiness = readiness
    app.add_middleware(BodyDeadline, timeout=settings.limits.body_timeout)
    app.add_middleware(AccessLog)
    return app


# How long a worker leaves the operations another worker accepted to that worker.
FOREIGN_ENDINGS_AFTER = 5.0


def worker_app(settings: Settings, index: int) -> Starlette:
    """The app of worker `index` of a server with several processes (`http.workers`): it
    ends another worker's operations only `FOREIGN_ENDINGS_AFTER` seconds late, so a
    client's mailbox is written by one process; only worker 0 makes deliveries."""
    if not settings.worker:
        return create_app(settings)
    role = dataclasses.replace(
        settings, deliveries=index == 0, foreign_endings_after=FOREIGN_ENDINGS_AFTER
    )
    return create_app(role)
