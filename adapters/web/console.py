"""The operator console, `/console/...`: every account, one account's settings, queue,
deliveries and endpoints, operator actions on them (recorded as the signed-in operator's
in the action's own transaction), and an operation's trail.
"""

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Code
from tidings.domain.operator import Actor

from ..http.context import Context
from ..library import Rejected, Tidings
from ..numbers import whole_number
from ..views import AccountView
from .access import Call, Handler, guarded
from .pages import age, page, redirect
from .sessions import CONSOLE
from .timeline import timeline

__all__ = ["console_routes"]

_PAGE = 50
# How many accounts a search reads at most (the log's openings, in order).
_SEARCH_READS = 20_000
# What an action's redirect (`?done=<code>`) shows: only these texts, so a crafted link
# cannot make the page tell an operator something of its own; an unknown code, nothing.
_DONE = {
    "suspended": "suspended",
    "resumed": "resumed",
    "endpoints-resumed": "the paused endpoints resumed",
    "requeued": "requeued (see the deliveries below)",
    "acked": "acked",
}


def _accounts(t: Tidings, query: str, after: int) -> tuple[list[AccountView], int | None]:
    """A page of accounts from cursor `after` and the cursor of the next page; with a
    `query`, the first `_PAGE` whose login holds it (among the first `_SEARCH_READS`
    opened), and no next page: a person narrows the search instead."""
    if not query:
        page = t.accounts(after=after, limit=_PAGE)
        return page.accounts, page.next
    found: list[AccountView] = []
    cursor: int | None = 0
    for _ in range(_SEARCH_READS // 1000):
        page = t.accounts(after=cursor or 0, limit=1000)
        found += [a for a in page.accounts if query.lower() in a.login.lower()]
        cursor = page.next
        if cursor is None or len(found) >= _PAGE:
            break
    return found[:_PAGE], None


def _since(text: str) -> datetime | None:
    """A time typed in the redeliver form (ISO 8601, UTC when no zone is given)."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        shape = "YYYY-MM-DDTHH:MM, UTC unless a zone follows"
        raise Rejected(Code.INVALID_PARAMETER, f"not a time ({shape}): {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(text: str, what: str) -> int:
    number = whole_number(text.strip())
    if number is None:
        raise Rejected(Code.INVALID_PARAMETER, f"{what} is a whole number, not {text[:40]!r}")
    return number


def console_routes(context: Context) -> list[Route]:
    """The console's pages, bound to a server."""

    async def accounts(call: Call) -> Response:
        query = call.request.query_params.get("q", "").strip()
        start = whole_number(call.request.query_params.get("after", "0")) or 0
        found, more = await run_in_threadpool(_accounts, context.tidings, query, start)
        return page(call.request, "console/accounts.html", area=CONSOLE, who=call.who,
                    accounts=found, query=query, more=more)  # fmt: skip

    async def account(call: Call) -> Response:
        login = call.param("login")
        t = context.tidings
        view = await run_in_threadpool(t.account, login)
        if view is None:
            raise Rejected(Code.OBJECT_NOT_FOUND, f"no account {login!r}")
        mailbox = await run_in_threadpool(t.mailbox, login)
        deliveries = await run_in_threadpool(t.deliveries, login)
        endpoints = await run_in_threadpool(t.endpoints, login)
        now = context.settings.clock()
        return page(call.request, "console/account.html", area=CONSOLE, who=call.who,
                    account=view, mailbox=mailbox, oldest=age(mailbox.oldest_at, now),
                    deliveries=list(reversed(deliveries))[:100], endpoints=endpoints,
                    done=_DONE.get(call.request.query_params.get("done", ""), ""))  # fmt: skip

    async def act(call: Call) -> Response:
        login, action, form, by = (
            call.param("login"),
            call.param("action"),
            call.form,
            call.who.name,
        )
        t, actor = context.tidings, Actor(by, action)
        match action:
            case "suspend":
                reason = form.get("reason", "").strip() or "suspended by an operator"
                await run_in_threadpool(lambda: t.suspend(login, reason, by=actor))
                done = "suspended"
            case "resume":
                await run_in_threadpool(lambda: t.resume(login, by=actor))
                done = "resumed"
            case "resume-endpoint":
                target = form.get("target") or None
                await run_in_threadpool(lambda: t.resume_endpoint(login, target, by=actor))
                done = "endpoints-resumed"
            case "redeliver":
                ident = form.get("notification_id", "").strip()
                one = _number(ident, "the notification id") if ident else None
                since, delivered = _since(form.get("since", "")), form.get("delivered") == "yes"
                await t.redeliver_async(login, one, since=since, delivered=delivered, by=actor)
                done = "requeued"
            case "bulk-ack":
                up_to = _number(form.get("up_to", ""), "the last id to ack")
                await t.bulk_ack_async(login, up_to, by=by)
                done = "acked"
            case _:
                raise Rejected(Code.UNKNOWN_COMMAND, f"no action {action!r}")
        return redirect(f"{CONSOLE.home}accounts/{login}?done={done}")

    async def trail(call: Call) -> Response:
        key = call.request.query_params.get("key", "").strip()
        moments = []
        if key:
            entries = await run_in_threadpool(context.tidings.trail_of, key)
            moments = timeline(entries)
        return page(call.request, "console/trail.html", area=CONSOLE, who=call.who,
                    key=key, moments=moments)  # fmt: skip

    async def start(request: Request) -> Response:
        return redirect(CONSOLE.home + "accounts")

    def at(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route("/" + path, guarded(context, CONSOLE, handler), methods=list(methods))

    return [
        Route("/", start, methods=["GET"]),
        at("accounts", accounts),
        at("accounts/{login}", account),
        at("accounts/{login}/{action}", act, ("POST",)),
        at("trail", trail),
    ]
