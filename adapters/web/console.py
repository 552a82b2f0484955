"""The operator console, `/console/...`: accounts, one account's settings, queue, deliveries
and endpoints, operator actions (recorded as the signed-in operator's), an operation's
trail as a timeline, and the health page: the log's figures as inline SVG bar charts, the
latest signed checkpoint and the last `verify` run from this page.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Code
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain import operator as opr
from tidings.domain.operator import Actor

from ..audit.integrity import Break
from ..audit.tally import RECENT, LogFigures, Tally, TallyView
from ..http.context import Context
from ..library import Rejected, Tidings, TrailEntry
from ..numbers import whole_number
from ..store.environment import LOG
from ..store.followers import Catchup
from ..views import AccountView
from .access import CONSOLE, Call, Handler, guarded, session_routes
from .pages import age, redirect

__all__ = ["attempts_of", "console_routes"]

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
_WIDTH, _HEIGHT, _GAP = 320, 120, 4
_SLICES = 12  # the last hour in 5-minute slices
_ANSWER = 200  # how much of an endpoint's answer a page shows


def _accounts(t: Tidings, query: str, after: int) -> tuple[list[AccountView], int | None]:
    """A page of accounts from cursor `after` and the next page's cursor; with a `query`,
    the first `_PAGE` whose login holds it, and no next page (a person narrows it)."""
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


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    tone: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    width: int = _WIDTH
    height: int = _HEIGHT


def bar_chart(title: str, values: list[tuple[str, float, str]]) -> Chart:
    """A chart of `values`, each (label, value, tone); tone is a CSS class suffix
    ("ok", "bad", "plain"). The highest bar fills the height; all zero: flat bars."""
    top = max((v for _, v, _ in values), default=0) or 1
    slot = _WIDTH / max(1, len(values))
    bars = []
    for index, (label, value, tone) in enumerate(values):
        height = max(1.0, (_HEIGHT - 16) * value / top)
        bars.append(
            Bar(label, value, index * slot + _GAP / 2, _HEIGHT - height, slot - _GAP, height, tone)
        )
    return Chart(title, tuple(bars))


@dataclass(frozen=True, slots=True)
class Verified:
    """What the last verify found: entries checked, where the chain broke (None: intact)."""

    at: datetime
    checked: int
    broken: Break | None


def _charts(tally: Tally, now: datetime) -> list[Chart]:
    states = ("scheduled", "in_flight", "succeeded", "gave_up")
    size = RECENT / _SLICES
    counts = Counter((int((now - a.at) / size), a.succeeded) for a in tally.recent)
    slices = []
    for index in reversed(range(_SLICES)):
        minutes = int((index + 1) * size / timedelta(minutes=1))
        slices.append((f"-{minutes} min ok", float(counts[index, True]), "ok"))
        slices.append((f"-{minutes} min failed", float(counts[index, False]), "bad"))
    return [
        bar_chart(
            "Queue depth, deepest accounts",
            [(login, float(count), "plain") for login, count in tally.busiest(8)],
        ),
        bar_chart(
            "Deliveries by state",
            [(s, float(tally.deliveries[s]), "bad" if s == "gave_up" else "ok") for s in states],
        ),
        bar_chart("Attempts in the last hour (5-minute slices)", slices),
    ]


def _oldest(t: Tidings, busiest: list[tuple[str, int]]) -> datetime | None:
    """The oldest waiting notification's time among the deepest queues."""
    times = [t.mailbox(login).oldest_at for login, _ in busiest]
    return min((moment for moment in times if moment is not None), default=None)


@dataclass(frozen=True, slots=True)
class Moment:
    """One step of a timeline: `stage` names its kind (also its CSS class)."""

    at: datetime
    position: int
    stage: str
    headline: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptRow:
    number: int
    at: datetime
    outcome: str
    status: int | None
    duration_ms: float
    error: str
    answer: str


def _attempt(done: dlv.AttemptSucceeded | dlv.AttemptFailed) -> AttemptRow:
    error = done.error if isinstance(done, dlv.AttemptFailed) else ""
    outcome = "failed" if isinstance(done, dlv.AttemptFailed) else "delivered"
    return AttemptRow(
        done.number, done.at, outcome, done.status, done.duration_ms, error, done.answer[:_ANSWER]
    )


def _describe(event: Any) -> tuple[str, str, tuple[str, ...]]:
    match event:
        case op.OperationAccepted(command=command, cltrid=cltrid, login=login):
            return "accepted", f"{command} accepted (1001)", (f"clTRID {cltrid}", login)
        case op.StepRecorded(text=text):
            return "step", text, ()
        case op.OperationEnded(code=code, result=result):
            return "ended", f"ended {code} {result}", ()
        case mbx.NotificationQueued(notification=n):
            return "queued", f"notification {n.id} queued for poll", ()
        case mbx.NotificationIssued(notification=n):
            return "issued", f"notification {n.id} issued, to be pushed", ()
        case mbx.NotificationRetrieved(id=ident, svtrid=svtrid):
            return "polled", f"notification {ident} retrieved", (f"poll {svtrid}",)
        case mbx.NotificationAcked(id=ident):
            return "acked", f"notification {ident} acked", ()
        case dlv.DeliveryScheduled(medium=medium, target=target):
            return "scheduled", f"{medium} delivery scheduled", (target,)
        case dlv.AttemptStarted(number=number):
            return "attempt", f"attempt {number} started", ()
        case dlv.AttemptExpired(number=number):
            return "failed", f"attempt {number} abandoned: its lease ran out", ()
        case dlv.AttemptSucceeded() | dlv.AttemptFailed():
            row = _attempt(event)
            details = (f"status {row.status}", row.error, f"{row.duration_ms:.0f} ms", row.answer)
            return row.outcome, f"attempt {row.number} {row.outcome}", details
        case dlv.DeliveryGaveUp(reason=reason):
            return "gave-up", "gave up", (reason,)
        case dlv.DeliveryRequeued(route=route):
            return "requeued", "requeued for redelivery", (route.target,) if route else ()
        case dlv.DeliveryResent(scheduled=scheduled):
            return "requeued", "delivered, and sent again", (scheduled.target,)
        case ept.EndpointPaused():
            return "failed", "endpoint paused", ()
        case ept.EndpointResumed(by=by):
            return "requeued", f"endpoint resumed by {by}", ()
        case opr.OperatorActed(name=name, action=action, login=login, detail=detail):
            return "operator", f"operator {name}: {action}", (login, detail)
    return "other", type(event).__name__, ()


def timeline(entries: list[TrailEntry]) -> list[Moment]:
    """A trail as a person reads it, in log order: each event a stage, a headline and the
    details that matter (events that carry a digest are described, not dumped)."""
    moments = []
    for entry in sorted(entries, key=lambda e: e.position):
        stage, headline, details = _describe(entry.event)
        moments.append(
            Moment(entry.at, entry.position, stage, headline, tuple(d for d in details if d))
        )
    return moments


def attempts_of(entries: list[TrailEntry]) -> list[AttemptRow]:
    """Every finished push attempt among a notification's trail entries, in order."""
    done = (dlv.AttemptSucceeded, dlv.AttemptFailed)
    return [_attempt(entry.event) for entry in entries if isinstance(entry.event, done)]


def console_routes(context: Context) -> list[Route]:
    """The console's pages and its sign-in and sign-out, bound to a server."""
    figures, lock = LogFigures(TallyView()), Lock()
    runner = Catchup(figures, LOG)
    last: list[Verified] = []

    async def accounts(call: Call) -> Response:
        query = call.query("q").strip()
        start = whole_number(call.query("after", "0")) or 0
        found, more = await run_in_threadpool(_accounts, context.tidings, query, start)
        return call.page("console/accounts.html", accounts=found, query=query, more=more)

    async def known(login: str) -> AccountView:
        view = await run_in_threadpool(context.tidings.account, login)
        if view is None:
            raise Rejected(Code.OBJECT_NOT_FOUND, f"no account {login!r}")
        return view

    async def account(call: Call) -> Response:
        login, t = call.param("login"), context.tidings
        view = await known(login)
        mailbox, deliveries, endpoints = await run_in_threadpool(
            lambda: (t.mailbox(login), t.deliveries(login), t.endpoints(login))
        )
        return call.page(
            "console/account.html",
            account=view,
            mailbox=mailbox,
            oldest=age(mailbox.oldest_at, context.settings.clock()),
            deliveries=list(reversed(deliveries))[:100],
            endpoints=endpoints,
            done=_DONE.get(call.query("done"), ""),
        )

    async def act(call: Call) -> Response:
        login, action, by = call.param("login"), call.param("action"), call.who.name
        t, form, actor = context.tidings, call.form, Actor(by, action)
        await known(login)  # else each action names what it misses of an unknown account
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
        key = call.query("key").strip()
        entries = await run_in_threadpool(context.tidings.trail_of, key) if key else []
        return call.page("console/trail.html", key=key, moments=timeline(entries))

    def follow(now: datetime) -> tuple[list[Chart], datetime | None]:
        with lock:  # requests run this in threads; the figures follow the log one at a time
            runner.catch_up(context.tidings)
            charts = _charts(figures.view.tally, now)
        return charts, _oldest(context.tidings, figures.view.tally.busiest(8))

    async def health(call: Call) -> Response:
        charts, oldest = await run_in_threadpool(follow, context.settings.clock())
        checkpoint = await run_in_threadpool(context.tidings.latest_checkpoint)
        return call.page(
            "console/health.html",
            charts=charts,
            tally=figures.view.tally,
            checkpoint=checkpoint,
            verified=last[-1] if last else None,
            oldest=oldest,
        )

    async def verify(call: Call) -> Response:
        checked, broken = await run_in_threadpool(context.tidings.verify_log)
        last[:] = [Verified(context.settings.clock(), checked, broken)]
        await context.tidings.operator_acted_async(call.who.name, "verify", "-", "")
        return redirect(CONSOLE.home + "health")

    def at(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route("/" + path, guarded(context, CONSOLE, handler), methods=list(methods))

    return [
        *session_routes(context, CONSOLE),
        Route("/", redirect(CONSOLE.home + "accounts"), methods=["GET"]),  # an ASGI app
        at("accounts", accounts),
        at("accounts/{login}", account),
        at("accounts/{login}/{action}", act, ("POST",)),
        at("trail", trail),
        at("health", health),
        at("health/verify", verify, ("POST",)),
    ]
