"""A connection that dies while a command commits on PostgreSQL: the command is never
reported as failed if it may have been saved, and never saved twice.

- The server ends the connection between the command's rows and its COMMIT, the
  database still up: the store asks the log whether the append landed (it did not),
  runs it again on a fresh connection, and the command succeeds once.
- The database becomes unreachable there (a proxy refuses): nobody can say whether the
  COMMIT landed, so the caller gets `OutcomeUnknown`, not a plain failure; once the
  database is back, the log is intact and the command is not in it.
- The same, for a command decided again under the log's write lock after it lost a
  race: its COMMIT goes when the lock is released. The answer to it is lost: the log
  says it landed, and the command succeeds once; the database is gone instead: the
  caller gets `OutcomeUnknown`."""

import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from tidings.adapters import OutcomeUnknown, Tidings
from tidings.adapters.store.application import Store
from tidings.domain import Code, Notification

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


def _writer_in_transaction(schema: str) -> int:
    """The server process whose transaction holds the write lock of the log in `schema`."""
    with psycopg.connect(POSTGRES.split("?", 1)[0], autocommit=True) as admin:
        pids = admin.execute(
            "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND l.mode = 'ExclusiveLock' AND l.granted",
            (schema,),
        ).fetchall()
    assert len(pids) == 1, pids
    return int(pids[0][0])


def _when_committed(pid: int, then: Callable[[], None]) -> threading.Thread:
    """A thread that calls `then` once the server process `pid` has ended its transaction
    (within 10 s)."""

    def wait() -> None:
        deadline = time.monotonic() + 10
        with psycopg.connect(POSTGRES.split("?", 1)[0], autocommit=True) as admin:
            while time.monotonic() < deadline:
                row = admin.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                if row is None or row[0] != "idle in transaction":
                    break
                time.sleep(0.02)
        then()

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    return waiting


def _lose_a_race_then(
    url: str, rival_url: str, at_locked_save: Callable[[], None]
) -> Callable[[], Notification]:
    """Ours on `url`, whose next command loses a race to a rival on `rival_url` and is
    decided again under the write lock: `at_locked_save` runs once that save's rows are
    in the lock's transaction, before it commits. Returns that command, to run."""
    rival = Tidings(rival_url)
    rival.open_account("tester", "pw")
    store = Store(url)
    ours = Tidings.over(store)
    svtrid = ours.accept("tester", "mine", "op").svtrid
    assert ours.poll("tester", svtrid="ours-1").code == Code.QUEUE_EMPTY  # cached: empty
    refresh, save = store.refresh, store.save
    saves: list[int] = []

    def refresh_then_race() -> None:
        refresh()
        if not saves:  # the rival moves the mailbox on after our first look
            rival.end(rival.accept("tester", "rival", "op").svtrid, 1000, "OK")

    def save_then(changes: object, snapshots: object) -> list[int]:
        saves.append(len(saves))
        positions = save(changes, snapshots)  # type: ignore[arg-type]
        if len(saves) == 2:  # the second: under the lock, the first having lost
            at_locked_save()
        return positions

    store.refresh = refresh_then_race  # type: ignore[method-assign]
    store.save = save_then  # type: ignore[method-assign]

    def command() -> Notification:
        try:
            return ours.end(svtrid, 1000, "OK")
        finally:
            ours.close()
            rival.close()

    return command


def test_a_lost_commit_answer_after_a_lost_race_saves_the_command_once(
    proxied: tuple[str, TcpProxy], postgres_url: str
) -> None:
    url, proxy = proxied
    schema = postgres_url.rsplit("schema=", 1)[1]
    waiting: list[threading.Thread] = []

    def deafen_until_committed() -> None:
        pid = _writer_in_transaction(schema)
        proxy.deafen()
        waiting.append(_when_committed(pid, proxy.restore))

    # given: a command lost a race; under the lock, the answer to its COMMIT is lost
    command = _lose_a_race_then(url, postgres_url, deafen_until_committed)

    # when: it commits
    notification = command()

    # then: the log said it landed: it succeeded, and was saved exactly once
    assert notification.id == 2
    waiting[0].join(timeout=10)
    with Tidings(postgres_url) as cold:
        queue = cold.mailbox("tester").notifications
        assert [(n.id, n.outcome.cltrid) for n in queue] == [(1, "rival"), (2, "mine")]
        assert cold.verify_log()[1] is None


def test_a_database_gone_at_a_locked_commit_is_an_unknown_outcome(
    proxied: tuple[str, TcpProxy], postgres_url: str
) -> None:
    url, proxy = proxied
    # given: a command lost a race; under the lock, the database goes before its COMMIT
    command = _lose_a_race_then(url, postgres_url, proxy.refuse)

    # when: it commits
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        command()

    # then: the caller was told at once that nobody knows, not that it failed
    assert time.monotonic() - started < 3.5
    proxy.restore()
    with Tidings(postgres_url) as cold:
        queue = cold.mailbox("tester").notifications
        assert [n.outcome.cltrid for n in queue] == ["rival"]
        assert cold.verify_log()[1] is None
