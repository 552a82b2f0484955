"""The customer center, `/center/<login>/...`: an account holder's delivery settings and
test notification, poll queue, deliveries (and redelivery), signing secret, allow-list
and password."""

from collections.abc import Mapping
from typing import Any

from msgspec.structs import replace
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Channel, Code, EmailChannel, PollChannel, UrlChannel
from tidings.domain.values import Fallback, channel_problem

from ..http.context import Context
from ..library import Rejected
from ..numbers import whole_number
from ..push.payload import render_notify
from ..push.transport import AddressGuard, Refused
from .access import CENTER, Call, Handler, guarded, session_routes, signed_in
from .console import attempts_of
from .pages import age, redirect

__all__ = ["center_routes"]

_METHODS = (
    ("poll", "Poll queue (poll-req / poll-ack)"),
    ("url", "URL (HTTP POST)"),
    ("email", "E-mail"),
)


def _statuses(raw: str) -> frozenset[int] | str:
    # ASCII digits only: `int` would read "٢٠٠", "2_00" and "+200" as 200
    found = [whole_number(part) for part in raw.replace(",", " ").split()]
    if None in found:
        return "HTTP statuses, as numbers separated by commas (e.g. 200, 204)"
    return frozenset(n for n in found if n is not None) or "name at least one HTTP status"


def _url(raw: str, guard: AddressGuard) -> tuple[str | None, str | None]:
    """(the URL or None when empty, its problem or None)."""
    url = raw.strip()
    if not url:
        return None, None
    if problem := channel_problem(UrlChannel(success_url=url)):
        return url, problem
    try:
        guard.check_url(url)
    except (Refused, ValueError) as refused:
        return url, f"refused: {refused}"
    return url, None


def _read(
    form: Mapping[str, str], guard: AddressGuard, current: Channel
) -> tuple[Channel | None, dict[str, str]]:
    """The channel `form` describes, or None and the problems by field name (the library
    checks again on save); what the form does not show (timeouts, endpoint health) from
    `current` when the medium stays."""
    method = form.get("method", "poll")
    fallback: Fallback = "poll" if form.get("fallback") == "poll" else "none"
    if method == "poll":
        return PollChannel(), {}
    if method == "email":
        mail = current if isinstance(current, EmailChannel) else EmailChannel("")
        email = replace(mail, address=form.get("address", "").strip(), fallback=fallback)
        if problem := channel_problem(email):
            return None, {"address": problem}
        return email, {}
    if method != "url":
        return None, {"method": "choose the poll queue, a URL or e-mail"}
    errors: dict[str, str] = {}
    urls: dict[str, str | None] = {}
    for name in ("success_url", "error_url"):
        urls[name], problem = _url(form.get(name, ""), guard)
        if problem:
            errors[name] = problem
    if not any(urls.values()) and not errors:
        errors["success_url"] = "give a success URL, an error URL or both"
    statuses = _statuses(form.get("expected_status", "200"))
    if isinstance(statuses, str):
        errors["expected_status"] = statuses
    body_format = form.get("body_format", "wapi-form")
    if body_format not in ("wapi-form", "jobresult"):
        errors["body_format"] = "choose the WAPI form or JobResult"
    if errors or isinstance(statuses, str):
        return None, errors
    channel = replace(
        current if isinstance(current, UrlChannel) else UrlChannel(),
        **urls,
        expected_status=statuses,
        body_format="jobresult" if body_format == "jobresult" else "wapi-form",
        fallback=fallback,
        ordered=form.get("ordered") == "yes",
    )
    if problem := channel_problem(channel):
        return None, {"expected_status": problem}
    return channel, errors


def _fields(channel: Channel) -> dict[str, Any]:
    """The form's values for `channel`; the URL fields show their defaults until a URL
    channel is saved."""
    tag = channel.__struct_config__.tag
    values = {"method": tag, "expected_status": "200", "body_format": "wapi-form"}
    match channel:
        case UrlChannel():
            values |= {
                "success_url": channel.success_url or "",
                "error_url": channel.error_url or "",
                "expected_status": ", ".join(map(str, sorted(channel.expected_status))),
                "body_format": channel.body_format,
                "fallback": channel.fallback,
                "ordered": "yes" if channel.ordered else "",
            }
        case EmailChannel():
            values |= {"address": channel.address, "fallback": channel.fallback}
    return values


def _ident(call: Call) -> int:
    """The notification id of the path; 2303 (404) for one no notification can have
    (Starlette's `int` converter would fail on a number of thousands of digits)."""
    ident = whole_number(call.param("ident"))
    if ident is None:
        raise Rejected(Code.OBJECT_NOT_FOUND, "no such notification")
    return ident


def center_routes(context: Context) -> list[Route]:
    """The center's pages and its sign-in and sign-out, bound to a server."""

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
        errors: dict[str, str]
        values, errors = _fields(account.channel), {}
        if call.request.method == "POST":
            values = dict(call.form)
            channel, errors = await run_in_threadpool(
                _read, call.form, context.tidings.guard, account.channel
            )
            if channel is not None:
                try:
                    await run_in_threadpool(context.tidings.configure_channel, login, channel)
                    return redirect(home(login) + "?saved=1")
                except Rejected as rejected:
                    errors = {"method": rejected.text}
        return call.page(
            "center/settings.html",
            422 if errors else 200,
            account=account,
            values=values,
            errors=errors,
            methods=_METHODS,
            saved=call.query("saved") == "1",
        )

    async def queue(call: Call) -> Response:
        mailbox = await run_in_threadpool(context.tidings.mailbox, call.who.name)
        shown = [(n, render_notify(n).decode()) for n in mailbox.notifications[:100]]
        oldest = age(mailbox.oldest_at, context.settings.clock())
        return call.page("center/queue.html", mailbox=mailbox, shown=shown, oldest=oldest)

    async def deliveries(call: Call) -> Response:
        views = await run_in_threadpool(context.tidings.deliveries, call.who.name)
        return call.page("center/deliveries.html", deliveries=list(reversed(views))[:200])

    async def delivery(call: Call) -> Response:
        login, ident, t = call.who.name, _ident(call), context.tidings
        trail, state = await run_in_threadpool(
            lambda: (t.trail(notification=(login, ident)), t.delivery(login, ident))
        )
        if state.scheduled is None:
            raise Rejected(Code.OBJECT_NOT_FOUND, f"notification {ident} was not pushed")
        return call.page(
            "center/delivery.html", ident=ident, state=state, attempts=attempts_of(trail)
        )

    async def redeliver(call: Call) -> Response:
        login, ident = call.who.name, _ident(call)
        await context.tidings.redeliver_async(login, ident, delivered=True)
        return redirect(f"{home(login)}deliveries/{ident}")

    async def test(call: Call) -> Response:
        login = call.who.name
        notification = await context.tidings.send_test_async(login)
        account = await run_in_threadpool(context.tidings.account, login)
        pushed = account is not None and account.channel.__struct_config__.tag != "poll"
        return redirect(home(login) + (f"deliveries/{notification.id}" if pushed else "queue"))

    async def keys(
        call: Call, secret: str | None = None, errors: dict[str, str] | None = None
    ) -> Response:
        account = await run_in_threadpool(context.tidings.account, call.who.name)
        return call.page(
            "center/keys.html",
            422 if errors else 200,
            account=account,
            secret=secret,
            errors=errors or {},
        )

    async def rotate(call: Call) -> Response:
        return await keys(
            call, await run_in_threadpool(context.tidings.rotate_secret, call.who.name)
        )

    async def password(call: Call) -> Response:
        new, again = call.form.get("password", ""), call.form.get("again", "")
        if new != again:
            return await keys(call, errors={"again": "the two passwords differ"})
        try:
            await run_in_threadpool(context.tidings.change_password, call.who.name, new)
        except Rejected as rejected:
            return await keys(call, errors={"password": rejected.text})
        # Every session of the account ended with the change: this one too.
        return redirect(CENTER.sign_in + "?changed=1")

    def at(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route("/{login}/" + path, guarded(context, CENTER, handler),
                     methods=list(methods))  # fmt: skip

    return [
        *session_routes(context, CENTER),
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
