"""Who may see a page: every page of the center and the console goes through `guarded`
(a live session, the form's CSRF token; in the center, only the signed-in login); and
what a page answers while the store cannot (`StoreUnavailable`): the error page (503,
nothing done; 504 when a commit's fate is unknown), never a server error.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import OutcomeUnknown
from ..http.context import Context
from ..library import Conflict, Rejected, StorageError
from .pages import Forbidden, checked_form, page, redirect
from .sessions import CENTER, Area, SignedIn, signed_in

__all__ = ["Call", "Handler", "StoreUnavailable", "guarded"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request to a page: who sent it, its form (empty for a GET)."""

    request: Request
    who: SignedIn
    form: Mapping[str, str]

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Call], Awaitable[Response]]


def guarded(
    context: Context, area: Area, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind the session, CSRF and (center) ownership checks. A `Rejected`
    it raises answers the error page with its text (404 for an unknown object, 409 for
    a state that prohibits, 422 otherwise); a `Conflict` 503."""

    async def handle(request: Request) -> Response:
        who = await signed_in(request, context, area)
        if who is None:
            if request.method == "GET":
                return redirect(area.sign_in)
            return page(request, "error.html", 403, area=area, who=None,
                        error="Your session has ended: sign in again.")  # fmt: skip
        if area is CENTER and request.path_params.get("login", who.name) != who.name:
            return page(request, "error.html", 404, area=area, who=who, error="Not found.")
        form: Mapping[str, str] = {}
        if request.method == "POST":
            try:
                form = await checked_form(request, context.settings.session_key, who.session)
            except Forbidden as forbidden:
                return page(request, "error.html", 403, area=area, who=who, error=str(forbidden))
        try:
            return await handler(Call(request, who, form))
        except Rejected as rejected:
            status = {2303: 404, 2304: 409, 2302: 409}.get(int(rejected.code), 422)
            return page(request, "error.html", status, area=area, who=who, error=rejected.text)
        except Conflict:
            text = "Others were changing the same data: try again."
            return page(request, "error.html", 503, area=area, who=who, error=text)

    return handle


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
