"""`GET /metrics`: Prometheus text, for an operator's bearer token (401 without one, 429
past the throttle): the process's counters (`tidings.adapters.metrics`) and the log's
figures, folded at each scrape by `LogMetrics`, which hold for the whole database.
"""

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..audit.tally import ATTEMPT_BUCKETS, LogFigures, Tally, TallyView
from ..library import StorageError, Tidings
from ..metrics import REGISTRY
from ..store.environment import LOG
from ..store.followers import Catchup
from ..store.outage import storage_errors
from .context import Context, bearer

__all__ = ["MULTIPROC_ENV", "TOP_ACCOUNTS", "LogMetrics", "metrics_route"]

# prometheus_client's own variable: where each process of a server keeps its values.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Accounts shown one by one in the queue gauges: a label per account would let a large
# installation swamp the scraper, so the deepest queues are named and the rest summed.
TOP_ACCOUNTS = 10


class LogMetrics(Collector):
    """The log's figures, brought up to date at each scrape. `tidings` is called for the
    library at each scrape (a server opens its store only once it has started)."""

    def __init__(self, tidings: Callable[[], Tidings], top: int = TOP_ACCOUNTS):
        self._tidings = tidings
        self._top = top
        self._figures = LogFigures(TallyView())
        self._runner = Catchup(self._figures, LOG)
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            tidings = self._tidings()
            self._runner.catch_up(tidings)
            tally = self._figures.view.tally
            yield from self._queues(tidings, tally)
            yield from self._notifications(tally)
            yield from self._deliveries(tally)

    def _queues(self, tidings: Tidings, tally: Tally) -> Iterator[Metric]:
        yield GaugeMetricFamily("tidings_accounts", "Accounts opened.", value=tally.accounts)
        yield GaugeMetricFamily(
            "tidings_queued_notifications",
            "Unacked notifications in every account's queue.",
            value=sum(tally.queued.values()),
        )
        depth = GaugeMetricFamily(
            "tidings_queue_depth",
            f"Unacked notifications, for the {self._top} accounts with the most.",
            labels=["account"],
        )
        age = GaugeMetricFamily(
            "tidings_queue_oldest_age_seconds",
            f"Age of the oldest unacked notification, for the {self._top} deepest queues.",
            labels=["account"],
        )
        now = datetime.now(UTC)
        for login, count in tally.busiest(self._top):
            depth.add_metric([login], count)
            oldest = tidings.mailbox(login).oldest_at
            if oldest is not None:
                age.add_metric([login], (now - oldest).total_seconds())
        yield depth
        yield age

    @staticmethod
    def _notifications(tally: Tally) -> Iterator[Metric]:
        for name, value, what in (
            ("created", tally.created, "queued when their operation ended"),
            ("polled", tally.polled, "returned by a poll-req for the first time"),
            ("acked", tally.acked, "acknowledged by a poll-ack"),
        ):
            yield CounterMetricFamily(
                f"tidings_notifications_{name}", f"Notifications {what}.", value=value
            )

    @staticmethod
    def _deliveries(tally: Tally) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "tidings_deliveries", "Pushed notifications by delivery state.", labels=["state"]
        )
        for state in ("scheduled", "in_flight", "succeeded", "gave_up"):
            states.add_metric([state], tally.deliveries[state])
        yield states
        yield GaugeMetricFamily(
            "tidings_endpoints_paused",
            "Push endpoints paused after failures in a row, not yet resumed.",
            value=tally.paused_endpoints,
        )
        outcomes = CounterMetricFamily(
            "tidings_deliveries_finished",
            "Deliveries by outcome: succeeded, or gave up (a requeued one may count again).",
            labels=["outcome"],
        )
        outcomes.add_metric(["succeeded"], tally.attempts["succeeded"])
        outcomes.add_metric(["gave_up"], tally.given_up)
        yield outcomes
        attempts = CounterMetricFamily(
            "tidings_delivery_attempts", "Push attempts by outcome.", labels=["outcome"]
        )
        for outcome in ("succeeded", "failed"):
            attempts.add_metric([outcome], tally.attempts[outcome])
        yield attempts
        cumulative, buckets = 0, []
        for bound, count in zip(
            (*map(str, ATTEMPT_BUCKETS), "+Inf"), tally.attempt_buckets, strict=True
        ):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "tidings_delivery_attempt_seconds",
            "Duration of push attempts.",
            buckets=buckets,
            sum_value=tally.attempt_seconds,
        )


def metrics_route(context: Context) -> Route:
    """`GET /metrics` of a server, for an operator's bearer token only (the queue gauges
    name accounts). With several workers (`MULTIPROC_ENV` set before they started) the
    counters are summed over every worker at each scrape."""
    own = CollectorRegistry(auto_describe=False)
    own.register(LogMetrics(lambda: context.tidings))
    counters = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        counters = CollectorRegistry()
        MultiProcessCollector(counters)  # type: ignore[no-untyped-call]

    def render() -> bytes:
        with storage_errors():
            return generate_latest(counters) + generate_latest(own)

    async def serve(request: Request) -> Response:
        try:
            let = await bearer(request, context, "metrics", named=True)
            if let.retry_after is not None:
                headers = {"Retry-After": str(let.retry_after)}
                return Response(b"too many failures\n", 429, headers, media_type="text/plain")
            if let.operator is None:
                text = b"an operator's bearer token is needed\n"
                headers = {"WWW-Authenticate": "Bearer"}
                return Response(text, 401, headers, media_type="text/plain")
            text = await run_in_threadpool(render)
        except StorageError:  # the log's figures cannot be read now (logged once per outage)
            return Response(b"the store cannot answer\n", 503, media_type="text/plain")
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", serve, methods=["GET"])
