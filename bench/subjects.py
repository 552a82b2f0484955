"""tidings under `python -m bench`: enqueue, poll + ack, and poll on a long history.

Everything goes through the library a backend embeds (`Tidings`), with its defaults:
every call returns once its command is fsynced; calls from several threads at once share
transactions (group commit).
"""

import itertools
import statistics
import time
from pathlib import Path

from tidings.adapters.ledger.keys import new_key
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.domain import Code

from .log import EMPTY_LOGIN, HISTORY_LOGIN, PASSWORD, History, sqlite
from .results import COMMAND, RESULT_TEXT, Durability, Result, read_durability

__all__ = ["NO_TREE", "TidingsQueue", "run_history_polls", "tidings_durability"]

LOGIN = "bench"
NO_TREE = "tidings, no tree"


def tidings_durability(path: Path) -> tuple[str, str]:
    """Journal mode and `synchronous` on a connection of the store at `path`, set up
    as every connection `Tidings` commits on."""
    store = Store(str(path))
    try:
        return read_durability(sqlite(store).pragma)
    finally:
        store.close()


class TidingsQueue:
    """tidings on a fresh database: enqueue is accept + end (the notification is
    queued), a drain cycle is poll + ack, each call a command of its own. Each client
    has an account of its own (a registrar's clients each poll their own queue).

    With `tamper_evidence` (the default) the store grows its Merkle tree and signs
    checkpoints at the default cadence with a key made for the run; without, it does
    neither: the row "tidings, no tree" beside "tidings" shows what they cost.

    `db`: a database URL to use instead of the file at `path` (whose name then only
    places the key); `login`: the accounts' prefix, distinct per process on one log."""

    name = "tidings"
    durability: Durability = "equal"
    drains = True

    def __init__(
        self,
        path: Path,
        clients: int = 1,
        *,
        tamper_evidence: bool = True,
        db: str | None = None,
        login: str = LOGIN,
    ):
        self.clients = clients
        self._path = path
        url = db or str(path)
        if tamper_evidence:
            key = path.with_suffix(".key")
            new_key(key)
            self._tidings = Tidings(url, signing_key=str(key))
        else:
            self.name = NO_TREE
            self._tidings = Tidings.over(Store(url, tree=False))
        self._logins = [f"{login}-{n}" for n in range(clients)]
        for login in self._logins:
            self._tidings.open_account(login, PASSWORD)
        self._numbers = itertools.count()

    def put(self, client: int) -> None:
        tidings = self._tidings
        pending = tidings.accept(self._logins[client], f"bench-{next(self._numbers)}", COMMAND)
        tidings.end(pending.svtrid, 1000, RESULT_TEXT)

    def take(self, client: int) -> None:
        tidings, login = self._tidings, self._logins[client]
        answer = tidings.poll(login)
        if answer.notification is None:
            raise RuntimeError(f"poll found no notification: {answer.code} {answer.text}")
        tidings.ack(login, answer.notification.id)

    def durability_in_force(self) -> tuple[str, str]:
        return tidings_durability(self._path)

    def transactions(self) -> int:
        return self._tidings.stats().transactions

    def close(self) -> None:
        self._tidings.close()


def _poll(tidings: Tidings, login: str) -> float:
    """One poll's latency in seconds; it must find the head."""
    start = time.perf_counter()
    answer = tidings.poll(login)
    elapsed = time.perf_counter() - start
    if answer.code != Code.OK:
        raise RuntimeError(f"poll of {login} answered {answer.code} {answer.text}")
    return elapsed


def run_history_polls(history: History, polls: int, cold_polls: int) -> list[Result]:
    """Poll latency on the mailbox with a long history and on the empty one.

    Each mailbox first gets one pending notification, polled once so its retrieval is
    recorded: every measured poll then answers the same head and writes nothing, so
    what differs between the two mailboxes is only what loading them costs. Cold: a
    fresh `Tidings` per poll (snapshot plus newer events); warm: one instance, states
    cached. The two mailboxes alternate so drifting machine load hits both alike.
    """
    path, every = str(history.path), history.snapshot_every
    logins = {HISTORY_LOGIN: history.mailbox_events, EMPTY_LOGIN: 0}
    with Tidings(path, snapshot_every=every) as tidings:
        for login in logins:
            pending = tidings.accept(login, "bench-pending", COMMAND)
            tidings.end(pending.svtrid, 1000, RESULT_TEXT)
            _poll(tidings, login)
    cold: dict[str, list[float]] = {login: [] for login in logins}
    events_read: dict[str, int] = {}
    for _ in range(cold_polls):
        for login in logins:
            with Tidings(path, snapshot_every=every) as fresh:
                cold[login].append(_poll(fresh, login))
                events_read[login] = fresh.stats().events_read
    warm: dict[str, list[float]] = {login: [] for login in logins}
    with Tidings(path, snapshot_every=every) as tidings:
        for login in logins:
            _poll(tidings, login)  # fills the cache
        for _ in range(polls):
            for login in logins:
                warm[login].append(_poll(tidings, login))
    results = []
    for scenario, latencies in (("poll-cold", cold), ("poll-warm", warm)):
        for login, history_events in logins.items():
            median = statistics.median(latencies[login])
            results.append(
                Result(
                    scenario=scenario,
                    subject="tidings",
                    durability="equal",
                    ops_per_s=1 / median,
                    ops=len(latencies[login]),
                    seconds=sum(latencies[login]),
                    latency_ms=median * 1000,
                    history_events=history_events,
                    events_read=events_read[login] if scenario == "poll-cold" else None,
                )
            )
    return results
