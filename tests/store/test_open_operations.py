"""Open operations (accepted, not yet ended) are kept beside the log, in the events'
transaction: listing them, as a server does when it starts, costs what is open, not
every operation ever made."""

import sqlite3
from urllib.parse import parse_qs, urlsplit

import psycopg
from tidings.adapters.library import Tidings
from tidings.adapters.store.chain import OPEN_OPERATIONS
from tidings.cli.app import app
from typer.testing import CliRunner

from tests.store.opened import opened


def _history(url: str, ended: int) -> list[str]:
    """`ended` operations accepted and ended, then three left open (one of another
    command, one accepted and stepped); returns the open ones' svTRIDs, oldest first."""
    with Tidings(url) as t:
        t.open_account("tester", "pw")
        for n in range(ended):
            t.end(t.accept("tester", f"done-{n}", "ping-async").svtrid, 1000, "OK")
        first = t.accept("tester", "open-1", "ping-async").svtrid
        other = t.accept("tester", "open-2", "domain-renew").svtrid
        t.end(t.accept("tester", "done-late", "ping-async").svtrid, 1000, "OK")
        third = t.accept("tester", "open-3", "ping-async").svtrid
        t.step(third, "half way")
        return [first, other, third]


def _drop_open_operations(url: str) -> None:
    """Make the database one from before the open operations were kept."""
    if url.startswith("postgresql://"):
        schema = parse_qs(urlsplit(url).query)["schema"][0]
        with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{schema}".{OPEN_OPERATIONS}')
    else:
        with sqlite3.connect(url) as db:
            db.execute(f"DROP TABLE {OPEN_OPERATIONS}")


def test_pending_operations_reads_only_the_open_ones(db_url: str) -> None:
    open_ones = _history(db_url, ended=40)
    with opened(db_url) as (fresh, fresh_store, _):
        pending = fresh.pending_operations()
        assert [p.accepted.svtrid for p in pending if p.accepted] == open_ones
        # Three acceptances and one step folded: none of the 41 ended operations.
        assert fresh_store.events_read == 4
        pings = fresh.pending_operations("ping-async")
        assert [p.accepted.cltrid for p in pings if p.accepted] == ["open-1", "open-3"]


def test_an_ended_operation_leaves_the_open_ones(db_url: str) -> None:
    first, other, third = _history(db_url, ended=2)
    with opened(db_url) as (t, store, _):
        t.end(other, 2400, "Command failed")
        assert store.open_operations() == [first, third]
        assert [p.accepted.svtrid for p in t.pending_operations() if p.accepted] == [first, third]


def test_a_database_from_before_gets_its_open_operations_from_the_log(db_url: str) -> None:
    open_ones = _history(db_url, ended=5)
    _drop_open_operations(db_url)
    with opened(db_url) as (t, store, _):
        assert store.open_operations() == open_ones
        t.end(open_ones[0], 1000, "OK")
    with opened(db_url) as (_, again_store, _):  # filled once: the table is kept from then on
        assert again_store.open_operations() == open_ones[1:]


def test_replay_tells_when_the_open_operations_disagree_with_the_log(sqlite_url: str) -> None:
    first, _, _ = _history(sqlite_url, ended=1)
    with sqlite3.connect(sqlite_url) as db:
        db.execute(f"DELETE FROM {OPEN_OPERATIONS} WHERE svtrid = ?", (first,))
    result = CliRunner().invoke(app, ["replay", "--db", sqlite_url])
    assert result.exit_code == 1
    assert f"MISMATCH open operation {first}" in result.output
    assert "rebuilt: open\n  live:    not open" in result.output
