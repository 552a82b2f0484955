"""Mailbox: the ordered poll queue of one account (WAPI poll-req / poll-ack)."""

from datetime import datetime, timedelta

import pytest
from tidings.domain import MAILBOX, Code, Notification, Outcome
from tidings.domain.mailbox import (
    AckNotification,
    EnqueueNotification,
    MailboxEvent,
    MailboxState,
    NotificationAcked,
    NotificationIssued,
    NotificationQueued,
    NotificationRetrieved,
    Polled,
    PollNotification,
    Queue,
    check,
    evolve,
    parse_id,
    peek,
    replayed,
    snapshot,
)

from tests.gwt import T0, spec


def fold_all(events: list[MailboxEvent]) -> MailboxState:
    return mailbox.given(*events).state


T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)
T3 = T0 + timedelta(minutes=3)

mailbox = spec(MAILBOX)


def outcome(n: int = 1) -> Outcome:
    return Outcome(
        code=1000,
        result="OK",
        timestamp=T0,
        cltrid=f"cl-{n}",
        svtrid=f"1286957874.1271.{n}",
        command="ping-async",
    )


def queued(id_: int) -> NotificationQueued:
    return NotificationQueued(notification=Notification(id=id_, outcome=outcome(id_)), at=T0)


def retrieved(id_: int, svtrid: str = "poll-1", at: datetime = T1) -> NotificationRetrieved:
    return NotificationRetrieved(id=id_, svtrid=svtrid, at=at)


def acked(id_: int) -> NotificationAcked:
    return NotificationAcked(id=id_, at=T1)


def poll(svtrid: str = "poll-1", polls: bool = True) -> PollNotification:
    return PollNotification(svtrid=svtrid, polls=polls)


def ack(raw: str, polls: bool = True) -> AckNotification:
    return AckNotification(notification_id=raw, polls=polls)


# --- Enqueue: ids strictly increasing ---------------------------------------------------
def test_the_first_notification_of_a_mailbox_gets_id_1() -> None:
    mailbox.given().when(EnqueueNotification(outcome(1)), now=T0).then(queued(1))


def test_each_notification_gets_the_next_id() -> None:
    mailbox.given(queued(1), queued(2)).when(EnqueueNotification(outcome(3))).then(queued(3))


def test_ids_are_never_reused_after_acks() -> None:
    given = mailbox.given(queued(1), queued(2), acked(1), acked(2))
    assert not given.state.queue
    given.when(EnqueueNotification(outcome(3))).then(queued(3))


def test_ids_are_strictly_increasing_over_many_enqueues() -> None:
    state = mailbox.given().state
    ids: list[int] = []
    for n in range(1, 50):
        when = mailbox.given_state(state).when(EnqueueNotification(outcome(n)))
        (event,) = when.events
        assert isinstance(event, NotificationQueued)
        ids.append(event.notification.id)
        state = when.state
        if n % 7 == 0:  # ack now and then: ids keep climbing regardless
            state = mailbox.given_state(state).when(ack(str(state.queue[0].id))).state
    assert ids == list(range(1, 50))


def test_an_enqueued_notification_is_not_yet_retrieved() -> None:
    state = mailbox.given().when(EnqueueNotification(outcome(1))).state
    assert state.queue[0].retrieved_at is None
    assert state.queue[0].retrieved_by is None


def test_enqueue_works_whatever_the_channel_because_the_caller_chose_the_mailbox() -> None:
    # Enqueue carries no `polls`: the store enqueues only for polling accounts.
    assert mailbox.given().when(EnqueueNotification(outcome(1))).state.next_id == 2


# --- Poll -------------------------------------------------------------------------------
def test_poll_of_an_empty_queue_is_1003() -> None:
    mailbox.given().when(poll()).then_rejected(Code.QUEUE_EMPTY, "Empty notifications queue")


def test_poll_after_everything_was_acked_is_1003() -> None:
    mailbox.given(queued(1), acked(1)).when(poll()).then_rejected(Code.QUEUE_EMPTY)


@pytest.mark.parametrize("events", [(), (queued(1),)], ids=["empty", "one queued"])
def test_poll_when_the_account_does_not_poll_is_2150(events: tuple[NotificationQueued]) -> None:
    mailbox.given(*events).when(poll(polls=False)).then_rejected(Code.POLL_NOT_ALLOWED)


def test_poll_returns_the_head_with_the_queue_count() -> None:
    when = mailbox.given(queued(1), queued(2), queued(3)).when(poll("sv-9"), now=T1)
    when.then(retrieved(1, "sv-9", T1))
    answer = peek(when.state)
    assert answer is not None
    assert answer.notification.id == 1
    assert answer.notification.outcome == outcome(1)
    assert answer.count == 3


def test_the_first_poll_that_returns_a_notification_records_when_and_under_which_svtrid() -> None:
    state = mailbox.given(queued(1)).when(poll("sv-first"), now=T1).state
    assert state.queue[0].retrieved_at == T1
    assert state.queue[0].retrieved_by == "sv-first"
    assert peek(state) == Polled(
        Notification(id=1, outcome=outcome(1), retrieved_at=T1, retrieved_by="sv-first"), 1
    )


def test_a_second_poll_returns_the_same_head_and_records_nothing() -> None:
    given = mailbox.given(queued(1), queued(2), retrieved(1, "sv-first", T1))
    when = given.when(poll("sv-second"), now=T2).then_nothing()
    answer = peek(when.state)
    assert answer is not None
    assert (answer.notification.id, answer.count) == (1, 2)
    assert answer.notification.retrieved_at == T1
    assert answer.notification.retrieved_by == "sv-first"


def test_after_an_ack_poll_returns_the_next_oldest_and_records_its_first_retrieval() -> None:
    given = mailbox.given(queued(1), queued(2), queued(3), retrieved(1), acked(1))
    when = given.when(poll("sv-2"), now=T2).then(retrieved(2, "sv-2", T2))
    assert peek(when.state) == Polled(
        Notification(id=2, outcome=outcome(2), retrieved_at=T2, retrieved_by="sv-2"), 2
    )


def test_peek_of_an_empty_mailbox_is_none() -> None:
    assert peek(MailboxState()) is None


# --- Ack --------------------------------------------------------------------------------
def test_ack_of_the_head_is_1002_notification_acked_and_removes_it() -> None:
    when = mailbox.given(queued(1), queued(2), retrieved(1)).when(ack("1"), now=T1)
    when.then(NotificationAcked(id=1, at=T1))
    assert [n.id for n in when.state.queue] == [2]
    assert when.state.last_acked == 1


def test_ack_of_the_head_is_accepted_even_before_it_was_polled() -> None:
    mailbox.given(queued(1)).when(ack("1"), now=T1).then(acked(1))


def test_ack_ignores_whitespace_around_the_id() -> None:
    mailbox.given(queued(1)).when(ack(" 1\n"), now=T1).then(acked(1))


def test_ack_of_a_non_head_id_is_2151_and_changes_nothing() -> None:
    mailbox.given(queued(1), queued(2), queued(3)).when(ack("2")).then_rejected(
        Code.NOTIFICATION_NOT_FOUND, "Notification does not exist"
    )


def test_ack_of_an_id_not_yet_given_out_is_2151() -> None:
    mailbox.given(queued(1)).when(ack("7")).then_rejected(Code.NOTIFICATION_NOT_FOUND)


def test_ack_on_an_empty_mailbox_is_2151() -> None:
    mailbox.given().when(ack("1")).then_rejected(Code.NOTIFICATION_NOT_FOUND)


def test_ack_of_another_accounts_id_is_2151() -> None:
    ours = mailbox.given(queued(1), queued(2))
    theirs = mailbox.given(*(queued(n) for n in range(1, 6)), acked(1), acked(2), acked(3))
    their_head = theirs.state.queue[0].id
    assert their_head == 4
    ours.when(ack(str(their_head))).then_rejected(Code.NOTIFICATION_NOT_FOUND)


def test_ack_of_an_id_acked_before_the_last_one_is_2151() -> None:
    mailbox.given(queued(1), queued(2), queued(3), acked(1), acked(2)).when(ack("1")).then_rejected(
        Code.NOTIFICATION_NOT_FOUND
    )


MALFORMED_IDS = [
    "",
    " ",
    "abc",
    "-1",
    "0",
    "00",
    "01",
    "1.0",
    "1e0",
    "+1",
    "0x1",
    "1 2",
    "\uff11",  # FULLWIDTH DIGIT ONE: int() takes it, the id grammar does not
    "99999999999999999999",
    "9" * 19,
]


@pytest.mark.parametrize("raw", MALFORMED_IDS, ids=repr)
def test_ack_of_a_malformed_id_is_2151(raw: str) -> None:
    mailbox.given(queued(1)).when(ack(raw)).then_rejected(Code.NOTIFICATION_NOT_FOUND)


@pytest.mark.parametrize("raw", MALFORMED_IDS, ids=repr)
def test_a_malformed_id_names_no_notification(raw: str) -> None:
    assert parse_id(raw) is None


@pytest.mark.parametrize(("raw", "id_"), [("1", 1), ("2691", 2691), ("9" * 18, 10**18 - 1)])
def test_a_well_formed_id_is_a_positive_integer_of_at_most_18_digits(raw: str, id_: int) -> None:
    assert parse_id(raw) == id_


def test_a_re_ack_of_the_last_acked_id_answers_1002_again_with_no_events() -> None:
    mailbox.given(queued(1), queued(2), acked(1)).when(ack("1"), now=T2).then_nothing()


def test_a_re_ack_of_the_last_acked_id_still_works_after_new_notifications_arrived() -> None:
    mailbox.given(queued(1), acked(1), queued(2), queued(3)).when(ack("1")).then_nothing()


def test_a_re_ack_on_an_emptied_mailbox_changes_nothing() -> None:
    when = mailbox.given(queued(1), acked(1)).when(ack("1")).then_nothing()
    assert when.state == mailbox.given(queued(1), acked(1)).state


@pytest.mark.parametrize("raw", ["1", "2", "abc", ""], ids=repr)
def test_ack_when_the_account_does_not_poll_is_2150_whatever_the_id(raw: str) -> None:
    mailbox.given(queued(1), queued(2), acked(1)).when(ack(raw, polls=False)).then_rejected(
        Code.POLL_NOT_ALLOWED
    )


# --- Snapshots and guards ---------------------------------------------------------------
def test_a_snapshot_replaces_the_state_and_later_events_apply_on_top() -> None:
    history: list[MailboxEvent] = [queued(1), queued(2), retrieved(1), acked(1), queued(3)]
    full = mailbox.given(*history).state
    snapshotted = mailbox.given(snapshot(full, T3)).state
    assert snapshotted == full
    after: list[MailboxEvent] = [retrieved(2, "sv-2", T3), acked(2)]
    assert mailbox.given(snapshot(full, T3), *after).state == (
        mailbox.given(*history, *after).state
    )


def test_decisions_after_a_snapshot_match_decisions_on_the_full_history() -> None:
    history: list[MailboxEvent] = [queued(1), queued(2), acked(1)]
    state = mailbox.given(*history).state
    from_snapshot = mailbox.given(snapshot(state, T3))
    assert from_snapshot.when(ack("1")).result == mailbox.given(*history).when(ack("1")).result
    from_snapshot.when(EnqueueNotification(outcome(3))).then(queued(3))


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (retrieved(2), "retrieval of 2 but the head is 1"),
        (acked(2), "ack of 2 but the head is 1"),
    ],
    ids=["retrieval", "ack"],
)
def test_evolve_ignores_a_retrieval_or_ack_of_anything_but_the_head_and_check_says_why(
    event: MailboxEvent, problem: str
) -> None:
    # Given a queue whose head is 1
    state = mailbox.given(queued(1), queued(2)).state
    # When an event about 2 is applied, Then nothing changes, and check refuses it
    assert evolve(state, event) == state
    assert check(state, event) == problem


@pytest.mark.parametrize("event", [retrieved(1), acked(1)], ids=["retrieval", "ack"])
def test_evolve_ignores_a_retrieval_or_ack_on_an_empty_queue(event: MailboxEvent) -> None:
    state = mailbox.given().state
    assert evolve(state, event) == state
    what = "retrieval" if isinstance(event, NotificationRetrieved) else "ack"
    assert check(state, event) == f"{what} of 1 but the queue is empty"


def test_check_lets_the_events_decide_produces_follow() -> None:
    given = mailbox.given(queued(1))
    for event in (queued(2), retrieved(1), acked(1)):
        assert check(given.state, event) is None
        given = mailbox.given_state(evolve(given.state, event))


def test_an_issued_notification_takes_the_next_id_and_never_enters_the_queue() -> None:
    issued = NotificationIssued(notification=Notification(id=1, outcome=outcome(1)), at=T0)
    state = mailbox.given(issued).state
    assert (state.next_id, len(state.queue)) == (2, 0)
    mailbox.given(issued).when(EnqueueNotification(outcome(2))).then(
        NotificationQueued(notification=Notification(id=2, outcome=outcome(2)), at=T0)
    )


def test_a_replayed_run_refuses_an_ack_of_anything_but_the_head_it_has_reached() -> None:
    # Given a run in which the head is acked, then acked again
    run: list[MailboxEvent] = [queued(1), queued(2), acked(1), acked(1)]
    # When it is replayed at once, Then the second ack is refused: the head is 2 by then
    with pytest.raises(ValueError, match="ack of 1 but the head is 2"):
        replayed(mailbox.given().state, run)
    # while evolve, total, ignores it
    assert fold_all(run).queue.head.id == 2


# --- How the queue holds its notifications ----------------------------------------------
def test_the_queue_holds_each_notification_as_its_messagepack_bytes() -> None:
    # Given a notification, as a mailbox's queue holds it
    notification = Notification(id=7, outcome=outcome(7), retrieved_at=T1, retrieved_by="sv")
    held = Queue.hold(notification)
    # Then it is held as bytes (what a queued notification costs a server) that read back
    # as the same notification
    assert type(held) is bytes
    assert Queue.item(held) == notification


def test_a_queue_reads_back_what_was_queued_retrieved_and_acked() -> None:
    # Given notifications queued, the first retrieved and the second acked after it
    state = fold_all([queued(1), queued(2), queued(3), retrieved(1), acked(1), retrieved(2)])
    # Then the queue reads as the notifications, oldest first, the head as retrieved
    assert list(state.queue) == [
        Notification(id=2, outcome=outcome(2), retrieved_at=T1, retrieved_by="poll-1"),
        Notification(id=3, outcome=outcome(3)),
    ]
    # and equals the replay's, which holds them as they are
    events = [queued(1), queued(2), queued(3), retrieved(1), acked(1), retrieved(2)]
    assert replayed(MAILBOX.initial, events) == state


def test_a_notification_the_queue_cannot_encode_is_held_as_it_is() -> None:
    # Given a notification no store could hold (an id past 64 bits): evolve stays total
    notification = Notification(id=2**70, outcome=outcome(1))
    state = fold_all([NotificationQueued(notification=notification, at=T0)])
    assert state.queue.head == notification
