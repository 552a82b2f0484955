"""Prometheus counters of this process, by name, for any module to bump. What the log
already says is not counted here: `/metrics` folds it from the log (`http.metrics`)."""

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "AUTH_FAILURES",
    "BATCH_COMMANDS",
    "CHECKPOINTS_REFUSED",
    "COMMIT_SECONDS",
    "REGISTRY",
    "THROTTLED",
]

REGISTRY = CollectorRegistry()

AUTH_FAILURES = Counter(
    "tidings_auth_failures",
    "Requests refused for their credentials: WAPI 2050, JSON API, /metrics and Merchants 401.",
    ["surface"],
    registry=REGISTRY,
)
THROTTLED = Counter(
    "tidings_throttled_requests",
    "Requests refused by the rate limit.",
    ["surface"],
    registry=REGISTRY,
)
CHECKPOINTS_REFUSED = Counter(
    "tidings_checkpoints_refused",
    "Checkpoints the signer refused: the log no longer extends what its key signed.",
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "tidings_store_commit_seconds",
    "Time to save one transaction of the group commit (fsync included).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
BATCH_COMMANDS = Histogram(
    "tidings_store_batch_commands",
    "Commands saved together in one transaction of the group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
