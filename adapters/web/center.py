"""The customer center, `/center/<login>/...`: an account holder's delivery settings and
test notification, poll queue, deliveries (and redelivery), signing secret, allow-list
and password.
"""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Code

from ..http.context import Context
from ..library import Rejected
from ..numbers import whole_number
from ..push.payload import render_notify
from .access import Call, Handler, guarded
from .forms import METHODS, channel_fields, read_channel
from .pages import age, page, redirect
from .sessions import CENTER, signed_in
from .timeline import attempts_of

__all__ = ["center_routes"]


def _ident(call: Call) -> int:
    """The notification id of the path; 2303 (404) for one no notification can have
    (Starlette's `int` converter would fail on a number of thousands of digits)."""
    ident = whole_number(call.param("ident"))
    if ident is None:
        raise Rejected(Code.OBJECT_NOT_FOUND, "no such notification")
    return ident


def center_routes(context: Context) -> list[Route]:
    """The center's pages, bound to a server."""

    def home(login: str) -> str:
        return f"{CENTER.home}{login}/"

    async def start(request: Request) -> Response:
        who = await signed_in(request, context, CENTER)
        return redirect(CENTER.sign_in if who is None else home(who.name))

    async def settings(call: Call) -> Response:
        login = call.who.name
        account = await run_in_threadpool(context.tidings.account, login)
        if account is None:
            raise Rejected(Code.OBJECT_NOT_FOUND, "no such account")
        values = channel_fields(account.channel)
        errors: dict[str, str] = {}
        if call.request.method == "POST":
            values = dict(call.form)
            channel, errors = await run_in_threadpool(
                read_channel, call.form, context.tidings.guard, account.channel
            )
            if channel is not None:
                try:
                    await run_in_threadpool(context.tidings.configure_channel, login, channel)
                    return redirect(home(login) + "?saved=1")
                except Rejected as rejected:
                    errors = {"method": rejected.text}
        saved = call.request.query_params.get("saved") == "1"
        status = 422 if errors else 200
        return page(call.request, "center/settings.html", status, area=CENTER, who=call.who,
                    account=account, values=values, errors=errors, methods=METHODS,
                    saved=saved)  # fmt: skip

    async def queue(call: Call) -> Response:
        login = call.who.name
        mailbox = await run_in_threadpool(context.tidings.mailbox, login)
        now = context.settings.clock()
        shown = [(n, render_notify(n).decode()) for n in mailbox.notifications[:100]]
        return page(call.request, "center/queue.html", area=CENTER, who=call.who,
                    mailbox=mailbox, shown=shown, oldest=age(mailbox.oldest_at, now))  # fmt: skip

    async def deliveries(call: Call) -> Response:
        views = await run_in_threadpool(context.tidings.deliveries, call.who.name)
        return page(call.request, "center/deliveries.html", area=CENTER, who=call.who,
                    deliveries=list(reversed(views))[:200])  # fmt: skip

    async def delivery(call: Call) -> Response:
        login, ident = call.who.name, _ident(call)
        trail = await run_in_threadpool(lambda: context.tidings.trail(notification=(login, ident)))
        state = await run_in_threadpool(context.tidings.delivery, login, ident)
        if state.scheduled is None:
            raise Rejected(Code.OBJECT_NOT_FOUND, f"notification {ident} was not pushed")
        return page(call.request, "center/delivery.html", area=CENTER, who=call.who,
                    ident=ident, state=state, attempts=attempts_of(trail))  # fmt: skip

    async def redeliver(call: Call) -> Response:
        login, ident = call.who.name, _ident(call)
        await context.tidings.redeliver_async(login, ident, delivered=True)
        return redirect(f"{home(login)}deliveries/{ident}")

    async def test(call: Call) -> Response:
        login = call.who.name
        notification = await context.tidings.send_test_async(login)
        account = await run_in_threadpool(context.tidings.account, login)
        pushed = account is not None and account.channel.__struct_config__.tag != "poll"
        where = f"deliveries/{notification.id}" if pushed else "queue"
        return redirect(home(login) + where)

    async def keys(
        call: Call, secret: str | None = None, errors: dict[str, str] | None = None
    ) -> Response:
        account = await run_in_threadpool(context.tidings.account, call.who.name)
        return page(call.request, "center/keys.html", 422 if errors else 200, area=CENTER,
                    who=call.who, account=account, secret=secret, errors=errors or {},
                    changed=False)  # fmt: skip

    async def rotate(call: Call) -> Response:
        return await keys(
            call, await run_in_threadpool(context.tidings.rotate_secret, call.who.name)
        )

    async def password(call: Call) -> Response:
        login = call.who.name
        new, again = call.form.get("password", ""), call.form.get("again", "")
        errors = {}
        if new != again:
            errors["again"] = "the two passwords differ"
        else:
            try:
                await run_in_threadpool(context.tidings.change_password, login, new)
            except Rejected as rejected:
                errors["password"] = rejected.text
        if not errors:  # every session of the account ended with the change: this one too
            return redirect(CENTER.sign_in + "?changed=1")
        return await keys(call, errors=errors)

    def at(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route("/{login}/" + path, guarded(context, CENTER, handler),
                     methods=list(methods))  # fmt: skip

    return [
        Route("/", start, methods=["GET"]),
        at("", settings, ("GET", "POST")),
        at("queue", queue),
        at("deliveries", deliveries),
        at("deliveries/{ident}", delivery),
        at("deliveries/{ident}/redeliver", redeliver, ("POST",)),
        at("test", test, ("POST",)),
        at("keys", keys),
        at("keys/secret", rotate, ("POST",)),
        at("keys/password", password, ("POST",)),
    ]
