"""An operator acks an abandoned poll queue up to an id (Nomulus' ack_poll_messages)."""

from tidings.domain import Code
from tidings.domain.bulk_ack import OPERATOR, AckUpTo, acks_up_to
from tidings.domain.mailbox import NotificationAcked

from tests.domain.test_mailbox import acked, fold_all, queued, retrieved
from tests.gwt import T0, process

bulk_ack = process(acks_up_to, timed=True)


def by_operator(id_: int) -> NotificationAcked:
    return NotificationAcked(id=id_, at=T0, by=OPERATOR)


def test_the_queue_is_acked_oldest_first_up_to_the_id() -> None:
    mailbox = fold_all([queued(1), queued(2), queued(3), queued(4)])
    bulk_ack.given(mailbox).when(AckUpTo(up_to=3)).then([by_operator(1), by_operator(2),
                                                         by_operator(3)])  # fmt: skip


def test_a_retrieved_head_is_acked_like_the_rest() -> None:
    mailbox = fold_all([queued(1), retrieved(1), queued(2)])
    bulk_ack.given(mailbox).when(AckUpTo(up_to=9)).then([by_operator(1), by_operator(2)])


def test_at_most_most_go_in_one_decision() -> None:
    mailbox = fold_all([queued(n) for n in range(1, 6)])
    bulk_ack.given(mailbox).when(AckUpTo(up_to=5, most=2)).then([by_operator(1), by_operator(2)])


def test_nothing_that_old_is_nothing_to_do() -> None:
    bulk_ack.given(fold_all([queued(1), acked(1), queued(2)])).when(AckUpTo(up_to=1)).then([])
    bulk_ack.given(fold_all([])).when(AckUpTo(up_to=5)).then([])


def test_an_id_below_one_is_refused() -> None:
    mailbox = fold_all([queued(1)])
    bulk_ack.given(mailbox).when(AckUpTo(up_to=0)).then_rejected(Code.INVALID_PARAMETER)
    bulk_ack.given(mailbox).when(AckUpTo(up_to=1, most=0)).then_rejected(Code.INVALID_PARAMETER)


def test_the_acks_fold_into_an_empty_queue_and_the_last_acked() -> None:
    mailbox = fold_all([queued(1), queued(2)])
    acks = bulk_ack.given(mailbox).when(AckUpTo(up_to=2)).decided
    after = fold_all([queued(1), queued(2), *acks])
    assert (after.queue.size, after.last_acked) == (0, 2)
