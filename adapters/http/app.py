"""The tidings server: one Starlette app, served by uvicorn.

Routes:
- `POST /wapi/xml`, `POST /wapi/json`: WAPI (see `http_wapi`);
- `/api/...`: the JSON API for backends, bearer token (see `http_api`);
- `POST|PUT /merchants/products`, `/merchants/files`: Merchants-style jobs (`http_merchants`);
- `GET /openapi.json`: the JSON API's OpenAPI document; `GET /healthz`.

Startup opens the store and schedules the endings of operations the server runs itself
that a previous run left pending; shutdown (after uvicorn has let in-flight requests
finish) cancels the waiting endings, lets a running one finish, and closes the store.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..library import Tidings
from ..wapi.request import Dialect
from .access_log import AccessLog
from .api import api_routes
from .context import Context, Settings
from .endings import EndingRule, Endings
from .merchants import JOB_COMMANDS, job_ending, merchants_routes
from .openapi import openapi_route
from .wapi import PING_ASYNC, WapiEndpoint, ping_ending

__all__ = ["Settings", "create_app"]

_log = logging.getLogger("tidings.server")


def _rules(settings: Settings) -> dict[str, EndingRule]:
    rules = {PING_ASYNC: EndingRule(settings.ping_delay, ping_ending)}
    rules.update({command: EndingRule(settings.job_delay, job_ending) for command in JOB_COMMANDS})
    return rules


def create_app(settings: Settings) -> Starlette:
    """The server app. The store is opened when the app starts (lifespan), not here.

    `app.state.context` holds the running parts (`Context`), for tests and embedding.
    """
    context = Context(settings)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tidings = await run_in_threadpool(Tidings, settings.db, clock=settings.clock)
        try:
            async with anyio.create_task_group() as group:
                endings = Endings(tidings, _rules(settings), settings.clock, group)
                context.start(tidings, endings)
                resumed = await endings.resume()
                if resumed:
                    _log.info("scheduled %d operations left pending by a previous run", resumed)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            context.stop()
            await run_in_threadpool(tidings.close)

    async def healthz(_: Request) -> Response:
        # The store is reachable when a read goes through.
        try:
            await run_in_threadpool(context.tidings.account, "healthz")
        except Exception:
            _log.exception("health check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/wapi/xml", WapiEndpoint(Dialect.XML, context).handle, methods=["POST"]),
        Route("/wapi/json", WapiEndpoint(Dialect.JSON, context).handle, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        openapi_route(),
        *api_routes(context),
        *merchants_routes(context),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.context = context
    app.add_middleware(AccessLog)
    return app
