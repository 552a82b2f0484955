"""The library facade on each real backend: the whole poll cycle, rejections, audit."""

import re
from collections.abc import Iterator

import pytest
from tidings.adapters.library import Rejected, Tidings
from tidings.domain import Code, UrlChannel

from tests.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def t(db_url: str, clock: FakeClock) -> Iterator[Tidings]:
    with Tidings(db_url, clock=clock) as tidings:
        tidings.open_account("tester", "123456")
        yield tidings


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
    assert t.mailbox("tester").queue[0].id == 2


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
    delivery = t.delivery("pusher", notification.id)
    assert delivery.status == "scheduled"
    assert delivery.scheduled is not None
    assert delivery.scheduled.target == "http://127.0.0.1:9/hook"


def test_rejections_raise_and_change_nothing(t: Tidings) -> None:
    svtrid = t.accept("tester", "c", "op").svtrid
    t.end(svtrid, 1000, "OK")
    before = t.store.max_position()
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
    assert t.store.max_position() == before


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
    for key in (pending.svtrid, "my-cl"):
        trail = t.trail(key)
        assert [e.kind for e in trail] == kinds
        assert [e.position for e in trail] == sorted(e.position for e in trail)
        assert [e.at for e in trail] == sorted(e.at for e in trail)
    assert [e.kind for e in t.trail(f"tester/{notification.id}")] == kinds[3:]
    assert t.trail("no-such-key") == []


def test_state_at_rebuilds_the_past(t: Tidings, clock: FakeClock) -> None:
    t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    queued_at = clock.now
    clock.advance(60)
    t.ack("tester", "1")
    assert len(t.state_at("mailbox", "tester", queued_at).queue) == 1
    assert len(t.state_at("mailbox", "tester", clock.now).queue) == 0
    with pytest.raises(ValueError, match="unknown stream category"):
        t.state_at("nonsense", "tester", clock.now)


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
