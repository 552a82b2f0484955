"""What a page answers while the store cannot: the error page (503, nothing done; 504 when
a commit's fate is unknown), never a server error. The store logs the outage once.
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import OutcomeUnknown
from ..library import Conflict, StorageError
from .pages import page
from .sessions import Area

__all__ = ["StoreUnavailable"]

_DOWN = "The database cannot answer now: nothing was done. Try again in a moment."
_UNKNOWN = (
    "The database stopped answering while saving this: it may have been done. "
    "Look before you do it again."
)
_CONFLICT = "Others were changing the same data: try again."


class StoreUnavailable:
    """ASGI middleware for the pages of `area`: a `StorageError` or `Conflict` raised
    before an answer started becomes the error page (503; 504 for `OutcomeUnknown`)."""

    def __init__(self, app: ASGIApp, area: Area) -> None:
        self.app = app
        self.area = area

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except (StorageError, Conflict) as error:
            if started:
                raise
            status, text = 503, _CONFLICT if isinstance(error, Conflict) else _DOWN
            if isinstance(error, OutcomeUnknown):
                status, text = 504, _UNKNOWN
            answer = page(Request(scope), "error.html", status, area=self.area, who=None,
                          error=text)  # fmt: skip
            await answer(scope, receive, send)
