"""The library facade on each real backend: the whole poll cycle, rejections, audit."""

import hashlib
import inspect
import multiprocessing
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tidings.adapters import (
    ACCOUNT,
    MAILBOX,
    Code,
    MailboxView,
    Rejected,
    RetryPolicy,
    StorageError,
    Tidings,
    TidingsError,
    UrlChannel,
)

from tests.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def t(db_url: str, clock: FakeClock) -> Iterator[Tidings]:
    with Tidings(db_url, clock=clock) as tidings:
        tidings.open_account("tester", "123456")
        yield tidings


def log_size(t: Tidings) -> int:
    return sum(1 for _ in t.log())


def test_accept_answers_1001_with_a_wapi_shaped_svtrid(t: Tidings) -> None:
    pending = t.accept("tester", "AvrX87Kqk6h3", "ping-async")
    assert pending.code == Code.PENDING and pending.text == "Request pending"
    assert re.fullmatch(r"\d+\.\d+\.\d+", pending.svtrid)
    assert pending.cltrid == "AvrX87Kqk6h3"


def test_a_full_poll_cycle(t: Tidings, clock: FakeClock) -> None:
    pending = t.accept("tester", "AvrX87Kqk6h3", "ping-async")
    clock.advance(5)
    t.end(pending.svtrid, 1000, "OK")

    answer = t.poll("tester", svtrid="poll.1")
    assert answer.code == Code.OK and answer.count == 1
    assert answer.notification is not None
    assert answer.notification.outcome.svtrid == pending.svtrid
    assert answer.notification.outcome.cltrid == "AvrX87Kqk6h3"
    assert answer.notification.retrieved_by == "poll.1"

    assert t.ack("tester", str(answer.notification.id)).code == Code.ACKED
    assert t.poll("tester", svtrid="poll.2").code == Code.QUEUE_EMPTY


def test_notifications_come_oldest_first_with_increasing_ids(t: Tidings) -> None:
    svtrids = [t.accept("tester", f"c{i}", "op").svtrid for i in range(4)]
    for svtrid in reversed(svtrids):  # ended in reverse: queued in the order they end
        t.end(svtrid, 1000, "OK")
    seen = []
    while (answer := t.poll("tester", svtrid="p")).code == Code.OK:
        assert answer.notification is not None
        seen.append((answer.notification.id, answer.notification.outcome.svtrid))
        t.ack("tester", str(answer.notification.id))
    assert [i for i, _ in seen] == [1, 2, 3, 4]
    assert [s for _, s in seen] == list(reversed(svtrids))


def test_only_the_head_can_be_acked_and_reack_is_safe(t: Tidings) -> None:
    for i in range(2):
        t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
    assert t.ack("tester", "2").code == Code.NOTIFICATION_NOT_FOUND
    assert t.ack("tester", "abc").code == Code.NOTIFICATION_NOT_FOUND
    assert t.ack("tester", "1").code == Code.ACKED
    assert t.ack("tester", "1").code == Code.ACKED  # the lost answer, asked again
    assert t.mailbox("tester").notifications[0].id == 2


def test_poll_second_time_keeps_the_first_retrieval(t: Tidings) -> None:
    t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    t.poll("tester", svtrid="first")
    answer = t.poll("tester", svtrid="second")
    assert answer.notification is not None and answer.notification.retrieved_by == "first"


def test_push_account_cannot_poll_and_gets_a_delivery(
    t: Tidings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_PUSH_ALLOW", "127.0.0.1/32")  # loopback is refused otherwise
    t.open_account("pusher", "pw", channel=UrlChannel(success_url="http://127.0.0.1:9/hook"))
    notification = t.end(t.accept("pusher", "c", "op").svtrid, 1000, "OK")
    assert t.poll("pusher", svtrid="p").code == Code.POLL_NOT_ALLOWED
    assert t.ack("pusher", "1").code == Code.POLL_NOT_ALLOWED
    # its notification took an id but is not in the poll queue
    assert notification.id == 1 and t.mailbox("pusher").count == 0
    kinds = [e.kind for e in t.trail(notification=("pusher", 1))]
    assert kinds == ["NotificationIssued", "DeliveryScheduled"]
    delivery = t.delivery("pusher", notification.id)
    assert delivery.status == "scheduled"
    assert delivery.scheduled is not None
    assert delivery.scheduled.target == "http://127.0.0.1:9/hook"


def test_rejections_raise_and_change_nothing(t: Tidings) -> None:
    svtrid = t.accept("tester", "c", "op").svtrid
    t.end(svtrid, 1000, "OK")
    before = log_size(t)
    with pytest.raises(Rejected) as ended_twice:
        t.end(svtrid, 1000, "OK")
    assert ended_twice.value.code == Code.STATUS_PROHIBITS
    with pytest.raises(Rejected) as unknown:
        t.end("1.2.3", 1000, "OK")
    assert unknown.value.code == Code.OBJECT_NOT_FOUND
    with pytest.raises(Rejected) as no_account:
        t.accept("nobody", "c", "op")
    assert no_account.value.code == Code.OBJECT_NOT_FOUND
    with pytest.raises(Rejected) as twice:
        t.open_account("tester", "x")
    assert twice.value.code == Code.OBJECT_EXISTS
    assert log_size(t) == before


def test_a_suspended_account_cannot_start_operations(t: Tidings) -> None:
    t.suspend("tester", "unpaid")
    with pytest.raises(Rejected) as suspended:
        t.accept("tester", "c", "op")
    assert suspended.value.code == Code.ACCOUNT_SUSPENDED
    t.resume("tester")
    assert t.accept("tester", "c", "op").code == Code.PENDING


def test_trail_by_svtrid_cltrid_and_notification(t: Tidings, clock: FakeClock) -> None:
    pending = t.accept("tester", "my-cl", "op")
    clock.advance(1)
    t.step(pending.svtrid, "sent to the registry")
    clock.advance(1)
    notification = t.end(pending.svtrid, 1000, "OK")
    t.poll("tester", svtrid="p")
    t.ack("tester", str(notification.id))
    kinds = [
        "OperationAccepted",
        "StepRecorded",
        "OperationEnded",
        "NotificationQueued",
        "NotificationRetrieved",
        "NotificationAcked",
    ]
    for trail in (t.trail(pending.svtrid), t.trail(cltrid="my-cl")):
        assert [e.kind for e in trail] == kinds
        assert [e.position for e in trail] == sorted(e.position for e in trail)
        assert [e.at for e in trail] == sorted(e.at for e in trail)
    assert [e.kind for e in t.trail(notification=("tester", notification.id))] == kinds[3:]
    assert t.trail("no-such-key") == []
    assert t.trail(cltrid="no-such-key") == []
    for wrong in ({}, {"svtrid": "a", "cltrid": "b"}):
        with pytest.raises(ValueError, match="exactly one"):
            t.trail(**wrong)  # type: ignore[arg-type]


def test_state_at_rebuilds_the_past(t: Tidings, clock: FakeClock) -> None:
    t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    queued_at = clock.now
    clock.advance(60)
    t.ack("tester", "1")
    assert len(t.state_at(MAILBOX, "tester", queued_at).queue) == 1
    assert len(t.state_at(MAILBOX, "tester", clock.now).queue) == 0
    assert t.state_at(ACCOUNT, "tester", clock.now).opened
    with pytest.raises(ValueError, match="aware datetime"):
        t.state_at(MAILBOX, "tester", clock.now.replace(tzinfo=None))


def test_log_pages_through_every_entry_in_order(t: Tidings) -> None:
    for i in range(3):
        t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
    positions = [entry.position for entry in t.log(page_size=2)]
    assert positions == sorted(set(positions))
    assert len(positions) == 1 + 3 * 3  # account + (accepted, ended, queued) x 3
    assert [e.position for e in t.log(start=positions[4], page_size=2)] == positions[4:]


def test_pending_operations_lists_those_not_ended(t: Tidings) -> None:
    a = t.accept("tester", "a", "ping-async").svtrid
    b = t.accept("tester", "b", "other").svtrid
    t.accept("tester", "c", "ping-async")
    t.end(a, 1000, "OK")
    open_pings = [op.accepted.cltrid for op in t.pending_operations("ping-async") if op.accepted]
    assert open_pings == ["c"]
    assert {op.accepted.svtrid for op in t.pending_operations() if op.accepted} >= {b}


# --- One rule on every path: what the library refuses like WAPI and the JSON API ----------
def test_a_suspended_account_cannot_poll_or_ack(t: Tidings) -> None:
    t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    t.suspend("tester", "unpaid")
    before = log_size(t)
    for call in (lambda: t.poll("tester"), lambda: t.ack("tester", 1)):
        with pytest.raises(Rejected) as refused:
            call()
        assert (refused.value.code, refused.value.text) == (2053, "Account suspended")
    assert log_size(t) == before and t.mailbox("tester").count == 1
    t.resume("tester")
    assert t.ack("tester", 1).code == Code.ACKED


def test_an_unknown_account_cannot_poll_or_ack(t: Tidings) -> None:
    for call in (lambda: t.poll("nobody"), lambda: t.ack("nobody", 1)):
        with pytest.raises(Rejected) as refused:
            call()
        assert refused.value.code == Code.OBJECT_NOT_FOUND


@pytest.mark.parametrize(
    ("code", "data", "text"),
    [
        (1001, None, "an ending code is a final answer: 1000 or 2000-5999"),
        (1000, {"bad key": 1}, "data keys must be XML names"),
        (1000, {"ok": {"<b>": 1}}, "data keys must be XML names"),
        (1000, "deep", "data nests deeper than 32 levels"),
    ],
    ids=["1001", "bad-key", "nested-bad-key", "480-levels"],
)
def test_an_ending_nothing_could_render_is_refused_and_changes_nothing(
    t: Tidings, code: int, data: Any, text: str
) -> None:
    if data == "deep":  # what once made every XML poll of the account answer HTTP 500
        data = {"leaf": 1}
        for _ in range(480):
            data = {"level": data}
    svtrid = t.accept("tester", "c", "op").svtrid
    before = log_size(t)
    with pytest.raises(Rejected) as refused:
        t.end(svtrid, code, "OK", data=data)
    assert refused.value.code == Code.INVALID_PARAMETER
    assert refused.value.text.startswith(text)
    assert log_size(t) == before
    assert t.poll("tester").code == Code.QUEUE_EMPTY
    assert t.end(svtrid, 1000, "OK").id == 1  # still open: it can end properly


# --- Typed calls -------------------------------------------------------------------------
def test_poll_mints_its_own_svtrid_and_ack_takes_an_int(t: Tidings) -> None:
    t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    answer = t.poll("tester")
    assert re.fullmatch(r"\d+\.\d+\.\d+", answer.svtrid)
    assert answer.notification is not None
    assert answer.notification.retrieved_by == answer.svtrid
    assert t.ack("tester", answer.notification.id).code == Code.ACKED


def _child_svtrid(db_url: str, sent: Any) -> None:
    with Tidings(db_url) as child:
        sent.send(child.new_svtrid())


def test_svtrids_carry_a_random_component_per_process(t: Tidings, db_url: str) -> None:
    # Two machines on one database may have the same pids: a forked process draws anew
    ours = t.new_svtrid().split(".")
    context = multiprocessing.get_context("fork")
    received, sent = context.Pipe(duplex=False)
    child = context.Process(target=_child_svtrid, args=(db_url, sent))
    child.start()
    theirs = received.recv().split(".")
    child.join()
    assert ours[1] != theirs[1]
    assert t.new_svtrid().split(".")[1] == ours[1]  # one component for the whole process


# --- Errors and views --------------------------------------------------------------------
def test_a_database_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as failed:
        Tidings(str(tmp_path / "no" / "such" / "dir" / "t.db"))
    assert isinstance(failed.value, TidingsError)
    assert not isinstance(failed.value, sqlite3.Error)


def test_no_returned_view_carries_the_password_digest_or_the_secret(
    t: Tidings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_PUSH_ALLOW", "127.0.0.1/32")  # loopback is refused otherwise
    opened = t.open_account(
        "viewed", "hunter2", channel=UrlChannel(success_url="http://127.0.0.1:9/x")
    )
    digest = hashlib.sha1(b"hunter2").hexdigest()
    secrets = {opened.signing_secret, t.rotate_secret("viewed")}
    svtrid = t.accept("viewed", "c", "op").svtrid
    t.open_account("poller", "hunter2")
    polled_svtrid = t.accept("poller", "c", "op").svtrid
    notification = t.end(polled_svtrid, 1000, "OK")
    views: list[Any] = [
        t.account("viewed"),
        t.configure_channel("viewed", UrlChannel(success_url="http://127.0.0.1:9/y")),
        t.set_retry_policy("viewed", RetryPolicy()),
        t.set_allowed_ips("viewed", ("127.0.0.1",)),
        t.change_password("viewed", "hunter2"),
        t.suspend("viewed", "r"),
        t.resume("viewed"),
        t.end(svtrid, 1000, "OK"),
        t.mailbox("viewed"),
        t.operation(svtrid),
        t.pending_operations(),
        t.delivery("viewed", 1),
        t.deliveries("viewed"),
        t.endpoints("viewed"),
        t.poll("poller"),
        t.ack("poller", notification.id),
        t.mailbox("poller"),
        t.trail(svtrid),
        t.trail(polled_svtrid),
        t.trail(notification=("viewed", 1)),
        t.stats(),
    ]
    for view in views:
        shown = repr(view) + repr(msgspec.to_builtins(view))
        assert digest not in shown, view
        assert not any(secret in shown for secret in secrets), view
    # the opening shows its secret (once), and never the digest
    assert digest not in repr(opened) + repr(msgspec.to_builtins(opened))


def test_the_mailbox_view_is_a_count_the_oldest_time_and_the_notifications(
    t: Tidings, clock: FakeClock
) -> None:
    assert t.mailbox("tester") == MailboxView(count=0, oldest_at=None, notifications=())
    first_at = clock.now
    for i in range(2):
        t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
        clock.advance(10)
    view = t.mailbox("tester")
    assert (view.count, view.oldest_at) == (2, first_at)
    assert [n.id for n in view.notifications] == [1, 2]


def test_every_public_method_says_what_it_raises() -> None:
    silent = [
        name
        for name, method in inspect.getmembers(Tidings, inspect.isfunction)
        if not name.startswith("_") and "Raises" not in (method.__doc__ or "")
    ]
    assert silent == []


def test_two_test_notifications_in_one_second_have_clTRIDs_of_their_own(t: Tidings) -> None:
    # The clock does not move: both are sent in the same second. A client tells its
    # notifications apart by clTRID, and `trail --cltrid` finds one operation's events.
    first, second = t.send_test("tester"), t.send_test("tester")
    cltrids = [first.outcome.cltrid, second.outcome.cltrid]
    assert cltrids[0] != cltrids[1] and all(c.startswith("test-") for c in cltrids)
    trail = t.trail(cltrid=cltrids[0])
    accepted = [e.event.svtrid for e in trail if e.kind == "OperationAccepted"]  # type: ignore[attr-defined]
    assert accepted == [first.outcome.svtrid]
