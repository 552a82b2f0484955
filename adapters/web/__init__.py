"""The web pages of `tidings serve`: the customer center, the operator console, the API
reference and their stylesheet; server-rendered, no JavaScript, no outside asset."""

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from ..http.context import Context
from .access import CENTER, CONSOLE, Pages
from .center import center_routes
from .console import console_routes
from .pages import docs, stylesheet

__all__ = ["web_routes"]


def web_routes(context: Context) -> list[BaseRoute]:
    """The pages' routes, bound to a server (mount them beside the API's)."""
    secure = [Middleware(Pages)]
    return [
        Mount(
            "/center", routes=center_routes(context), middleware=[Middleware(Pages, area=CENTER)]
        ),
        Mount(
            "/console", routes=console_routes(context), middleware=[Middleware(Pages, area=CONSOLE)]
        ),
        Route("/docs", docs, methods=["GET"], middleware=secure),
        Route("/assets/tidings.css", stylesheet, methods=["GET"], middleware=secure),
    ]
