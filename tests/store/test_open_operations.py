"""Open operations (accepted, not yet ended) are an `eventsourcing.projection` projection
of the log with a tracking record (`adapters/store/open_operations.py`): listing them, as
a server does when it starts, costs what is open and what the view has not yet seen, not
every operation ever made; and the answer is exact however far the view is behind."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store, stream_hex
from tidings.adapters.store.environment import LOG, environment
from tidings.adapters.store.open_operations import VIEW, OpenOperations, view_for
from tidings.cli.app import app
from tidings.domain import OPERATION
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


@contextmanager
def _sql(url: str) -> Iterator[Any]:
    """A connection to the database `url` names, in autocommit, with `search_path` set
    to its schema on PostgreSQL: for the tests that play an editor or an older version."""
    if url.startswith("postgresql://"):
        schema = parse_qs(urlsplit(url).query)["schema"][0]
        with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            yield conn
    else:
        with sqlite3.connect(url, isolation_level=None) as db:
            yield db


def _listed(url: str) -> tuple[list[str], int]:
    """The view's svTRIDs (oldest first) and the position its tracking record names."""
    view = view_for(environment(url, create=False))
    try:
        rows, upto = view.listed(LOG)
    finally:
        view.close()
    return [svtrid for _, svtrid, _ in sorted(rows, key=lambda row: row[2])], upto


def _followed(url: str, store: Store) -> None:
    """Return once the open operations' view has processed every acceptance and ending
    logged so far (its follower started by a read); eventsourcing's `TimeoutError`
    after 10 s."""
    store.open_operations()
    last = max((entry.position for entry in store.log(topics=OpenOperations.topics)), default=0)
    view = view_for(environment(url, create=False))
    try:
        view.wait(LOG, last, timeout=10.0)
    finally:
        view.close()


def test_pending_operations_reads_only_the_open_ones(db_url: str) -> None:
    open_ones = _history(db_url, ended=40)
    with opened(db_url) as (fresh, fresh_store, _):
        pending = fresh.pending_operations()
        assert [p.accepted.svtrid for p in pending if p.accepted] == open_ones
        # Three acceptances and one step folded: none of the 41 ended operations.
        assert fresh_store.events_read == 4
        pings = fresh.pending_operations("ping-async")
        assert [p.accepted.cltrid for p in pings if p.accepted] == ["open-1", "open-3"]


def test_the_projection_keeps_its_view_and_tracking_record_beside_the_log(db_url: str) -> None:
    first, other, third = _history(db_url, ended=2)
    with opened(db_url) as (t, store, _):
        assert _listed(db_url) == ([], 0)  # nobody asked yet: no view written
        _followed(db_url, store)
        listed, upto = _listed(db_url)
        assert listed == [first, other, third]
        assert upto == max(e.position for e in store.log(topics=OpenOperations.topics))
        t.end(other, 2400, "Command failed")
        _followed(db_url, store)
        assert _listed(db_url)[0] == [first, third]
        assert store.open_operations() == [first, third]


def test_a_read_is_exact_while_the_view_is_behind(db_url: str) -> None:
    first, other, third = _history(db_url, ended=3)
    with opened(db_url) as (t, store, _):
        _followed(db_url, store)
        t.end(first, 1000, "OK")
        fourth = t.accept("tester", "open-4", "ping-async").svtrid
        # Asked at once, before the projection can have seen the last two events.
        assert store.open_operations() == [other, third, fourth]


def test_a_stopped_projection_resumes_after_its_tracking_position(db_url: str) -> None:
    first, other, third = _history(db_url, ended=1)
    with opened(db_url) as (_, store, _):
        _followed(db_url, store)
    _, stopped_at = _listed(db_url)
    with Tidings(db_url) as t:  # written while no projection runs
        t.end(third, 1000, "OK")
    assert _listed(db_url) == ([first, other, third], stopped_at)
    with opened(db_url) as (_, store, _):
        assert store.open_operations() == [first, other]
        _followed(db_url, store)
        assert _listed(db_url)[0] == [first, other]
        assert _listed(db_url)[1] > stopped_at


def test_the_view_refuses_a_change_at_a_position_it_has_tracked(db_url: str) -> None:
    """The tracking record is eventsourcing's, written with the change: an event
    processed twice (two runners on one view) is refused, and its change with it."""
    first, other, third = _history(db_url, ended=0)
    with opened(db_url) as (_, store, _):
        _followed(db_url, store)
    _, upto = _listed(db_url)
    view = view_for(environment(db_url, create=False))
    try:
        with pytest.raises(IntegrityError):
            view.closed(stream_hex(OPERATION.category, first), Tracking("tidings", upto))
    finally:
        view.close()
    assert _listed(db_url) == ([first, other, third], upto)


def test_a_view_dropped_is_built_again_from_the_log(db_url: str) -> None:
    open_ones = _history(db_url, ended=5)
    with _sql(db_url) as db:
        db.execute(f"DROP TABLE {VIEW}")
    with opened(db_url) as (t, store, _):
        assert store.open_operations() == open_ones
        t.end(open_ones[0], 1000, "OK")
        _followed(db_url, store)
    assert _listed(db_url)[0] == open_ones[1:]


def test_a_store_that_only_reads_folds_what_the_view_has_not_seen(db_url: str) -> None:
    first, other, third = _history(db_url, ended=1)
    reader = Store(db_url, read_only=True)
    try:
        assert reader.open_operations() == [first, other, third]  # no view yet
    finally:
        reader.close()
    assert _listed(db_url) == ([], 0)  # and it wrote none


def test_replay_tells_when_the_view_disagrees_with_the_log(db_url: str) -> None:
    first, _, _ = _history(db_url, ended=1)
    with opened(db_url) as (_, store, _):
        _followed(db_url, store)
    with _sql(db_url) as db:
        marker = "%s" if db_url.startswith("postgresql://") else "?"
        db.execute(f"DELETE FROM {VIEW} WHERE svtrid = {marker}", (first,))
    result = CliRunner().invoke(app, ["replay", "--db", db_url])
    assert result.exit_code == 1
    assert f"MISMATCH open operation {first}" in result.output
    assert "rebuilt: open\n  live:    not open" in result.output


def test_two_processes_follow_into_one_view(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every `serve` worker runs the projection: the tracking record lets one of them
    process each event, and the others go on from there, quietly."""
    first, other, third = _history(db_url, ended=0)
    with opened(db_url) as (t, store, _), opened(db_url) as (_, second, _):
        store.open_operations()
        second.open_operations()  # both followers run
        svtrids = [t.accept("tester", f"more-{n}", "ping-async").svtrid for n in range(30)]
        for svtrid in svtrids[::2]:
            t.end(svtrid, 1000, "OK")
        _followed(db_url, store)
        _followed(db_url, second)
        expected = [first, other, third, *svtrids[1::2]]
        assert _listed(db_url)[0] == expected
        assert store.open_operations() == second.open_operations() == expected
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
