"""A connection that dies while a command commits on PostgreSQL: the command is never
reported as failed if it may have been saved, and never saved twice.

- The server ends the connection between the command's rows and its COMMIT, the
  database still up: the store asks the log whether the append landed (it did not),
  runs it again on a fresh connection, and the command succeeds once.
- The database becomes unreachable there (a proxy refuses): nobody can say whether the
  COMMIT landed, so the caller gets `OutcomeUnknown`, not a plain failure; once the
  database is back, the log is intact and the command is not in it."""

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from tidings.adapters import OutcomeUnknown, Tidings
from tidings.adapters.store.application import Store

from tests.conftest import POSTGRES
from tests.http.tcp_proxy import TcpProxy

__all__: list[str] = []


def _end_the_writer(schema: str) -> None:
    """End, on the server, the connection whose transaction writes into `schema`."""
    with psycopg.connect(POSTGRES.split("?", 1)[0], autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE state = 'idle in transaction' AND strpos(query, %s) > 0",
            (schema,),
        ).fetchall()
    assert ended == [(True,)], ended


def _once(action: Callable[[], None]) -> Callable[[list[int]], None]:
    done: list[bool] = []

    def hook(_: list[int]) -> None:
        if not done:
            done.append(True)
            action()

    return hook


def test_a_connection_ended_before_the_commit_saves_the_command_once(postgres_url: str) -> None:
    schema = postgres_url.rsplit("schema=", 1)[1]
    store = Store(postgres_url)
    with Tidings.over(store) as t:
        t.open_account("tester", "pw")
        # given: the server ends the connection once the rows are sent, before COMMIT
        store.recorder.before_commit = _once(lambda: _end_the_writer(schema))  # type: ignore[attr-defined]

        # when: a command commits
        started = time.monotonic()
        pending = t.accept("tester", "once", "domain-create")

        # then: it succeeded, at once, and was saved exactly once
        assert time.monotonic() - started < 3
    with Tidings(postgres_url) as cold:
        assert [o.accepted.svtrid for o in cold.pending_operations() if o.accepted] == [
            pending.svtrid
        ]
        assert cold.verify_log()[1] is None


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    try:
        yield postgres_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}"), proxy
    finally:
        proxy.close()


def test_a_database_gone_before_the_commit_is_an_unknown_outcome(
    proxied: tuple[str, TcpProxy],
) -> None:
    url, proxy = proxied
    store = Store(url)
    with Tidings.over(store) as t:
        t.open_account("tester", "pw")
        # given: the database becomes unreachable once the rows are sent, before COMMIT
        store.recorder.before_commit = _once(proxy.refuse)  # type: ignore[attr-defined]

        # when: a command commits
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            t.accept("tester", "maybe", "domain-create")

        # then: the caller was told at once that nobody knows, not that it failed
        assert time.monotonic() - started < 3.5
        proxy.restore()
    with Tidings(url) as cold:
        assert cold.pending_operations() == []
        assert cold.verify_log()[1] is None
