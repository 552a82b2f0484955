"""Who may see a page: every page of the center and the console goes through `guarded`
(a live session, the form's CSRF token; in the center, only the signed-in login).
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..http.context import Context
from ..library import Conflict, Rejected
from .pages import Forbidden, checked_form, page, redirect
from .sessions import CENTER, Area, SignedIn, signed_in

__all__ = ["Call", "Handler", "guarded"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request to a page: who sent it, its form (empty for a GET)."""

    request: Request
    who: SignedIn
    form: Mapping[str, str]

    def param(self, name: str) -> str:
        value = self.request.path_params[name]
        return str(value)


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
