"""The console's health page, `/console/health`: what the log's figures say (the same
`LogFigures` `/metrics` serves), drawn as small bar charts in inline SVG (no script; the
page shows the figures in a table beside them), the latest signed checkpoint, and the
result of the last `verify` run from this page."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from ..audit.tally import RECENT, LogFigures, TallyView
from ..http.context import Context
from ..library import Tidings
from ..store.environment import LOG
from ..store.followers import Catchup
from .access import Call, guarded
from .pages import page, redirect
from .sessions import CONSOLE

__all__ = ["Bar", "Chart", "bar_chart", "health_routes"]

_WIDTH, _HEIGHT, _GAP = 320, 120, 4


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
        bars.append(Bar(label, value, index * slot + _GAP / 2, _HEIGHT - height,
                        slot - _GAP, height, tone))  # fmt: skip
    return Chart(title, tuple(bars))


_SLICES = 12  # the last hour in 5-minute slices


@dataclass(frozen=True, slots=True)
class Verified:
    """What the last verify found: entries checked, where the chain broke (None: intact)."""

    at: datetime
    checked: int
    broken_at: int | None
    reason: str


def _attempt_slices(figures: LogFigures, now: datetime) -> list[tuple[str, float, str]]:
    size = RECENT / _SLICES
    ok: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    for attempt in figures.view.tally.recent:
        index = int((now - attempt.at) / size)
        if 0 <= index < _SLICES:
            (ok if attempt.succeeded else bad)[index] += 1
    bars = []
    for index in reversed(range(_SLICES)):
        minutes = int((index + 1) * size / timedelta(minutes=1))
        bars.append((f"-{minutes} min ok", float(ok[index]), "ok"))
        bars.append((f"-{minutes} min failed", float(bad[index]), "bad"))
    return bars


def _charts(tidings: Tidings, runner: Catchup, figures: LogFigures, now: datetime,
            lock: Lock) -> list[Chart]:  # fmt: skip
    states = ("scheduled", "in_flight", "succeeded", "gave_up")
    with lock:  # requests run this in threads; the figures follow the log one at a time
        runner.catch_up(tidings)
        tally = figures.view.tally
        busiest = tally.busiest(8)
        deliveries = [(state, float(tally.deliveries[state])) for state in states]
        slices = _attempt_slices(figures, now)
    return [
        bar_chart("Queue depth, deepest accounts",
                  [(login, float(count), "plain") for login, count in busiest]),
        bar_chart("Deliveries by state",
                  [(state, n, "bad" if state == "gave_up" else "ok") for state, n in deliveries]),
        bar_chart("Attempts in the last hour (5-minute slices)", slices),
    ]  # fmt: skip


def health_routes(context: Context) -> list[Route]:
    """`GET /console/health` and `POST /console/health/verify`."""
    figures, lock = LogFigures(TallyView()), Lock()
    runner = Catchup(figures, LOG)
    last: list[Verified] = []

    async def health(call: Call) -> Response:
        t, now = context.tidings, context.settings.clock()
        charts = await run_in_threadpool(_charts, t, runner, figures, now, lock)
        checkpoint = await run_in_threadpool(t.latest_checkpoint)
        tally = figures.view.tally
        return page(call.request, "console/health.html", area=CONSOLE, who=call.who,
                    charts=charts, tally=tally, checkpoint=checkpoint,
                    verified=last[-1] if last else None,
                    oldest=await run_in_threadpool(_oldest, t, tally.busiest(8)))  # fmt: skip

    async def verify(call: Call) -> Response:
        checked, broken = await run_in_threadpool(context.tidings.verify_log)
        last.append(
            Verified(
                context.settings.clock(),
                checked,
                broken.position if broken else None,
                broken.reason if broken else "",
            )
        )
        del last[:-1]
        await context.tidings.operator_acted_async(call.who.name, "verify", "-", "")
        return redirect(CONSOLE.home + "health")

    return [
        Route("/health", guarded(context, CONSOLE, health), methods=["GET"]),
        Route("/health/verify", guarded(context, CONSOLE, verify), methods=["POST"]),
    ]


def _oldest(t: Tidings, busiest: list[tuple[str, int]]) -> datetime | None:
    """The oldest waiting notification's time among the deepest queues."""
    times = [t.mailbox(login).oldest_at for login, _ in busiest]
    return min((moment for moment in times if moment is not None), default=None)
