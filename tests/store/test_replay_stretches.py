"""Replay's parallel fold: the mailboxes are folded in stretches of the log, one process
each, a later stretch starting each mailbox from its stored snapshot; the result must be
the single fold's, and a start that differs from the stretches before must not count."""

import multiprocessing
import sqlite3
from pathlib import Path
from uuid import UUID

import pytest
from msgspec.structs import replace
from tidings.adapters.audit.integrity import Folded, _fold_share, _fold_split, _plan, fold_log
from tidings.adapters.audit.log_read import LogRead, Share, bounds
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store, stream_id
from tidings.adapters.store.codec import decode_event, encode_event, event_types
from tidings.cli.bench.log import build_backlog, build_history

from tests.store.opened import opened

# Three mailboxes: "busy" has events all along the log, "early" at its start and end
# only (untouched in the middle stretches), "late" only from the middle on.
LOGINS = ("busy", "early", "late")
MAILBOXES = Share(tuple(event_types("mailbox")), exclude=False)


def _history(url: str) -> None:
    with Tidings(url, snapshot_every=4) as t:
        for login in LOGINS:
            t.open_account(login, "pw")
        for i in range(40):
            active = ["busy"]
            active += ["early"] if i < 8 or i >= 36 else []
            active += ["late"] if i >= 20 else []
            for login in active:
                t.end(t.accept(login, f"{login}-{i}", "op").svtrid, 1000, "OK")
                if i % 3 == 0:
                    answer = t.poll(login, svtrid=t.new_svtrid())
                    assert answer.notification is not None
                    t.ack(login, str(answer.notification.id))


def _log(store: Store) -> LogRead:
    recorder = store.recorder
    return LogRead(store.url, recorder.events_table_name, recorder.snapshots_table)


def _single_fold(store: Store) -> tuple[int, Folded]:
    events, folded, seeds = _fold_share(_log(store), Share(), None)
    assert not seeds
    return events, folded


@pytest.mark.parametrize("cpus", [2, 3, 7])
def test_stretches_join_up_to_the_single_fold(db_url: str, cpus: int) -> None:
    # Given a log whose mailboxes have snapshots and events on both sides of every cut
    _history(db_url)
    with opened(db_url) as (t, store, _):
        log = _log(store)
        ends = bounds(log)
        assert ends is not None
        # When the mailboxes are folded in `cpus` stretches, each at least one position
        split = _fold_split(log, None, cpus, least_stretch=1)
        # Then the stretches joined up, and the states are those of one fold in log order
        assert split is not None
        assert split == _single_fold(store)
        # (keyed by the stream id as each database writes it)
        mailboxes = {UUID(sid): state for sid, state in split[1]["mailbox"].items()}
        for login in LOGINS:
            rebuilt = mailboxes[stream_id("mailbox", login)]
            assert tuple(rebuilt.queue) == t.mailbox(login).notifications


def _forge_snapshots(path: str, login: str) -> None:
    """Rewrite every stored snapshot of `login`'s mailbox with its notifications' result
    texts changed: each still decodes and folds on, to a state its events never reach."""
    sid = stream_id("mailbox", login).hex
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT originator_version, topic, state FROM stored_snapshots WHERE originator_id = ?",
            (sid,),
        ).fetchall()
        for version, topic, state in rows:
            event = decode_event(topic, state)
            queue = tuple(
                replace(n, outcome=replace(n.outcome, result="forged")) for n in event.state.queue
            )
            forged = replace(event, state=replace(event.state, queue=queue))
            db.execute(
                "UPDATE stored_snapshots SET state = ? "
                "WHERE originator_id = ? AND originator_version = ?",
                (encode_event(forged), sid, version),
            )


def test_a_snapshot_that_differs_from_its_events_is_not_trusted(sqlite_url: str) -> None:
    # Given the snapshots of "busy" forged: they fold on without error, to wrong states
    _history(sqlite_url)
    _forge_snapshots(sqlite_url, "busy")
    with opened(sqlite_url) as (_, store, _):
        # When the mailboxes are folded in stretches, a later one starting from a snapshot
        plan = _plan(_log(store), MAILBOXES, 3, 1)
        assert any(first > plan.bottom for first, _ in plan.stretches)
        split = _fold_split(_log(store), None, 3, least_stretch=1)
        # Then the stretches do not join up, and replay's fold falls back to one fold
        assert split is None
        assert fold_log(store, least_stretch=1) == _single_fold(store)


@pytest.mark.parametrize("cpus", [2, 3, 4])
def test_the_plan_shares_out_every_position_once(tmp_path: Path, cpus: int) -> None:
    # Given the bench's history: most of the log is one mailbox's events
    history = build_history(tmp_path / "history.db", 3000, 4)
    with opened(str(history.path)) as (_, store, _):
        log = _log(store)
        # When the fold is planned for `cpus` processes
        plan = _plan(log, MAILBOXES, cpus, 100)
        # Then this process and the children take the mailboxes' positions in turn, each
        # stretch at least 100 long, the first at the log's start and the last open-ended
        assert plan.bottom == 1
        ends = [plan.here - 1] + [last for _, last in plan.stretches[:-1] if last is not None]
        assert [first for first, _ in plan.stretches] == [end + 1 for end in ends]
        assert plan.stretches[-1][1] is None
        assert len(plan.stretches) <= cpus - 1
        assert all(last - first + 1 >= 100 for first, last in plan.stretches if last is not None)
        # and with two processes this one folds a first stretch: the mailboxes hold more
        # than half the log, the other streams less
        assert (plan.here > plan.bottom) == (cpus == 2)
        # And the split folds to the single fold
        assert _fold_split(log, None, cpus, 100) == _single_fold(store)


def test_the_plan_sees_the_part_of_a_log_written_in_a_repeating_pattern(tmp_path: Path) -> None:
    # Given a never-polled mailbox: acceptance, end, queued notification, over and over,
    # so the mailboxes hold a third of the log and the other streams two thirds
    backlog = build_backlog(tmp_path / "backlog.db", 3000, 4)
    with opened(str(backlog.path)) as (_, store, _):
        # When the fold is planned for two processes
        plan = _plan(_log(store), MAILBOXES, 2, 100)
        # Then this process folds only the other streams (already more than half), and
        # one child every mailbox event
        assert plan.here == plan.bottom
        assert plan.stretches == [(plan.bottom, None)]


def test_no_process_to_be_had_folds_the_log_here(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a machine that refuses a second process (a limit on processes)
    _history(sqlite_url)
    forked = multiprocessing.get_context("fork").Process
    start = forked.start
    started: list[object] = []

    def refuse_the_second(self: multiprocessing.process.BaseProcess) -> None:
        if started:
            raise OSError(11, "Resource temporarily unavailable")
        started.append(self)
        start(self)

    monkeypatch.setattr(forked, "start", refuse_the_second)
    with opened(sqlite_url) as (_, store, _):
        # When replay's fold plans two children
        assert len(_plan(_log(store), MAILBOXES, 3, 1).stretches) == 2
        split = _fold_split(_log(store), None, 3, least_stretch=1)
        # Then it gives up the split, stops the child it started, and folds the log here
        assert split is None
        assert not any(p.is_alive() for p in multiprocessing.active_children())
        assert fold_log(store, least_stretch=1) == _single_fold(store)


def test_progress_counts_every_event_once(db_url: str) -> None:
    # Given a log folded in three stretches of mailboxes beside the other streams
    _history(db_url)
    told: list[int] = []
    with opened(db_url) as (_, store, _):
        # When replay's fold tells its progress
        events, _ = fold_log(store, told.append, least_stretch=1)
        # Then the events told add up to the log, each once
        assert sum(told) == events == store.max_position()
