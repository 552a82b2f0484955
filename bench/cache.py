"""The `cache` rows of `python -m bench`: the store's state cache beside eventsourcing's
`Repository` with its cache, which fast-forwards a cached aggregate on every `get`.

One SQLite file; a writer (`Tidings`, as another process would be) ends an operation
for one account per round, queueing a notification in its mailbox. Then each subject
reads two mailboxes, as a command of a server reading its streams would: the one just
written (its cache must move on) and one written rounds ago (its cache is current).
The subjects take turns op by op, the order reversed each round, so load drift hits
them alike; each is timed on its own (wall and process CPU time).

- `tidings`: `Store` as a command uses it: `refresh` (one look at what other writers
  appended, for every cached stream at once), then the cached state or a load.
- `Repository, fast-forward`: `Repository(cache_maxsize=..., fastforward=True)` over the
  same event and snapshot stores: each `get` of a cached mailbox reads its events after
  the cached version.
- `Repository, no cache`: each `get` loads the newest snapshot and the events after it.

Every read of every subject is checked against the others: the same version.
"""

import time
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, Repository
from eventsourcing.persistence import Mapper
from eventsourcing.utils import Environment, EnvType
from msgspec import Struct
from tidings.adapters.ledger.entries import MsgspecMapper
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store, stream_hex, stream_id
from tidings.adapters.store.environment import environment
from tidings.domain import MAILBOX
from tidings.domain import mailbox as mbx

from .results import Result

__all__ = ["SUBJECTS", "measure_cache"]

SUBJECTS = ("tidings", "Repository, fast-forward", "Repository, no cache")
_PASSWORD = "bench-password"


class _Mailbox(Struct, frozen=True):
    """A mailbox as eventsourcing's repository caches it: an aggregate has an `id` and a
    `version`."""

    id: UUID
    version: int
    state: mbx.MailboxState


def _project(start: _Mailbox | None, events: Iterable[Any]) -> _Mailbox | None:
    """The repository's `projector_func`: the mailbox decider's fold (a snapshot event
    folds to the state it holds)."""
    state, last = (start.state, None) if start else (MAILBOX.initial, None)
    for envelope in events:
        state, last = MAILBOX.evolve(state, envelope.event), envelope
    if last is None:
        return start
    return _Mailbox(last.originator_id, last.originator_version, state)


class _Application(Application[UUID]):
    """eventsourcing's application on the store's database, with its mapper."""

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return MsgspecMapper()


def _ours(store: Store) -> Callable[[str], int]:
    def read(login: str) -> int:
        store.refresh()
        loaded = store.cached(stream_hex(MAILBOX.category, login))
        if loaded is None:
            loaded = store.load(MAILBOX, login)
        return loaded.version

    return read


def _repository(app: Application[UUID], cache: int | None) -> Callable[[str], int]:
    assert app.snapshots is not None
    repository: Repository[UUID] = Repository(
        app.events,
        snapshot_store=app.snapshots,
        cache_maxsize=cache,
        fastforward=True,
        deepcopy_from_cache=False,  # our states are immutable
    )

    def read(login: str) -> int:
        mailbox: _Mailbox = repository.get(
            stream_id(MAILBOX.category, login), projector_func=_project
        )
        return mailbox.version

    return read


def _end_one(tidings: Tidings, login: str) -> None:
    accepted = tidings.accept(login, "bench", "ping")
    tidings.end(accepted.svtrid, 1000, "Command completed successfully")


def measure_cache(path: Path, accounts: int, rounds: int) -> list[Result]:
    """The cache rows: `rounds` rounds over `accounts` accounts, two reads a round."""
    logins = [f"cache{i}" for i in range(accounts)]
    env = environment(str(path))
    with closing(Tidings(str(path))) as writer:
        for login in logins:
            writer.open_account(login, _PASSWORD)
            for _ in range(3):
                _end_one(writer, login)
        with closing(Store(str(path))) as store, closing(_Application(env=env)) as app:
            readers = {
                "tidings": _ours(store),
                "Repository, fast-forward": _repository(app, accounts),
                "Repository, no cache": _repository(app, None),
            }
            wall = dict.fromkeys(readers, 0.0)
            cpu = dict.fromkeys(readers, 0.0)
            order = list(readers)
            for n in range(rounds):
                written = logins[n % accounts]
                _end_one(writer, written)
                earlier = logins[(n + accounts // 2) % accounts]
                order.reverse()
                for login in (written, earlier):
                    versions = set()
                    for name in order:
                        started, started_cpu = time.perf_counter(), time.process_time()
                        versions.add(readers[name](login))
                        wall[name] += time.perf_counter() - started
                        cpu[name] += time.process_time() - started_cpu
                    assert len(versions) == 1, f"the subjects disagree on {login}: {versions}"
    reads = 2 * rounds
    return [
        Result(
            scenario="cache",
            subject=name,
            durability="equal",
            ops_per_s=reads / wall[name],
            ops=reads,
            seconds=wall[name],
            cpu_us=cpu[name] / reads * 1e6,
        )
        for name in readers
    ]
