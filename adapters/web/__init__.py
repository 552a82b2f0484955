"""The web pages of `tidings serve`: the customer center, the operator console, the API
reference and their stylesheet; server-rendered, no JavaScript, no outside asset.
"""

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from ..http.context import Context
from .access import StoreUnavailable
from .center import center_routes
from .console import console_routes
from .docs import docs_route
from .health import health_routes
from .pages import SecureHeaders, stylesheet
from .sessions import CENTER, CONSOLE, session_routes

__all__ = ["web_routes"]


def web_routes(context: Context) -> list[BaseRoute]:
    """The pages' routes, bound to a server (mount them beside the API's)."""
    secure = [Middleware(SecureHeaders)]
    center = [*session_routes(context, CENTER), *center_routes(context)]
    console = [*session_routes(context, CONSOLE), *console_routes(context),
               *health_routes(context)]  # fmt: skip
    return [
        Mount(
            "/center",
            routes=center,
            middleware=[*secure, Middleware(StoreUnavailable, area=CENTER)],
        ),
        Mount(
            "/console",
            routes=console,
            middleware=[*secure, Middleware(StoreUnavailable, area=CONSOLE)],
        ),
        docs_route(secure),
        Route("/assets/tidings.css", stylesheet, methods=["GET"], middleware=secure),
    ]
