"""An operator's action and its `OperatorActed` are saved by one transaction: a save
that fails leaves neither, a record refused leaves the action undone, and a save that
succeeds writes both, side by side in the log."""

import pytest
from tidings.adapters import Actor, InvalidArgument, Rejected
from tidings.domain import Code

from tests.store.opened import opened


class _DiskFull(Exception):
    pass


def _fail(positions: list[int]) -> None:
    raise _DiskFull(f"the save of {positions} fails")


def test_a_failed_save_leaves_neither_the_action_nor_its_record(db_url: str) -> None:
    with opened(db_url) as (t, store, _):
        t.open_account("tester", "123456")
        t.add_operator("alice")
        before = store.max_position()
        store.recorder.before_commit = _fail  # type: ignore[attr-defined]
        with pytest.raises(_DiskFull):
            t.suspend("tester", "abuse", by=Actor("alice", "suspend"))
        store.recorder.before_commit = None  # type: ignore[attr-defined]
        account = t.account("tester")
        assert account is not None and not account.suspended
        assert t.operator_actions("tester") == []
        assert store.max_position() == before


def test_an_action_whose_record_is_refused_is_not_done(db_url: str) -> None:
    with opened(db_url) as (t, store, _):
        t.open_account("tester", "123456")
        t.add_operator("alice")
        t.revoke_operator("alice")
        before = store.max_position()
        for act in (
            lambda by: t.suspend("tester", "abuse", by=by),
            lambda by: t.change_password("tester", "654321", by=by),
            lambda by: t.rotate_secret("tester", by=by),
            lambda by: t.send_test("tester", by=by),
        ):
            with pytest.raises(Rejected) as refused:
                act(Actor("alice", "x"))
            assert refused.value.code == Code.OBJECT_NOT_FOUND
        account = t.account("tester")
        assert account is not None and not account.suspended
        assert t.operator_actions("tester") == []
        # the test notification's operation is accepted, ended and recorded together
        assert not t.mailbox("tester").notifications
        assert t.pending_operations() == []
        assert store.max_position() == before


def test_the_action_and_its_record_are_written_together(db_url: str) -> None:
    with opened(db_url) as (t, store, _):
        t.open_account("tester", "123456")
        t.add_operator("alice")
        before = store.max_position()
        t.suspend("tester", "abuse", by=Actor("alice", "suspend"))
        t.resume("tester", by=Actor("admin", "Resume an account"))
        t.suspend("tester", "by the backend")  # a backend's own call: nothing recorded
        written = [(e.position, type(e.event).__name__) for e in t.log(before + 1)]
        assert written == [
            (before + 1, "AccountSuspended"),
            (before + 2, "OperatorActed"),
            (before + 3, "AccountResumed"),
            (before + 4, "OperatorActed"),
            (before + 5, "AccountSuspended"),
        ]
        acted = [
            (e.event.name, e.event.action, e.event.detail) for e in t.operator_actions("tester")
        ]
        assert acted == [("alice", "suspend", "abuse"), ("admin", "Resume an account", "")]


def test_a_change_of_settings_with_nothing_in_it_is_refused_and_not_recorded(db_url: str) -> None:
    with opened(db_url) as (t, store, _):
        t.open_account("tester", "123456")
        t.add_operator("alice")
        before = store.max_position()
        with pytest.raises(InvalidArgument, match="nothing to change"):
            t.configure("tester", by=Actor("alice", "configure"))
        assert t.operator_actions("tester") == []
        assert store.max_position() == before
