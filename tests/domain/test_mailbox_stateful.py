"""The mailbox decider against a plain list: random interleavings of enqueue, poll, ack
(right, wrong, malformed, repeated), on polling and non-polling accounts, always agree on
order, counts, answers and codes."""

from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from tidings.domain import MAILBOX, Code, Outcome, Rejection, fold
from tidings.domain.mailbox import (
    AckNotification,
    EnqueueNotification,
    MailboxCommand,
    MailboxEvent,
    MailboxState,
    NotificationAcked,
    NotificationQueued,
    NotificationRetrieved,
    PollNotification,
    parse_id,
    peek,
)

from tests.gwt import T0

MALFORMED = st.one_of(
    st.sampled_from(["", " ", "abc", "-1", "0", "01", "007", "1.0", "1e3", "+1", "0x1"]),
    st.sampled_from(["99999999999999999999", "9" * 19, "1 2", "\uff11", "1_000"]),
    st.text(max_size=8).filter(lambda raw: parse_id(raw) is None),
)


def outcome(n: int) -> Outcome:
    return Outcome(
        code=1000 if n % 3 else 2400,
        result="OK" if n % 3 else "Command failed",
        timestamp=T0,
        cltrid=f"cl-{n}",
        svtrid=f"sv-{n}",
        command="ping-async",
    )


class MailboxAgainstAList(RuleBasedStateMachine):
    """`state`/`history` are the decider's; everything else is the model."""

    def __init__(self) -> None:
        super().__init__()
        self.state: MailboxState = MAILBOX.initial
        self.history: list[MailboxEvent] = []
        self.now: datetime = T0
        self.queue: list[int] = []  # the model: ids, oldest first
        self.outcomes: dict[int, Outcome] = {}
        self.first_retrieval: dict[int, tuple[datetime, str]] = {}
        self.last_acked: int | None = None
        self.next_id = 1
        self.polls_made = 0

    # --- driving the decider ----------------------------------------------------------
    def run(self, command: MailboxCommand) -> list[MailboxEvent] | Rejection:
        result = MAILBOX.decide(self.state, command, self.now)
        if not isinstance(result, Rejection):
            for event in result:
                self.state = MAILBOX.evolve(self.state, event)
            self.history.extend(result)
        return result

    def ack_answer(self, raw: str, polls: bool) -> Code:
        """The code the client hears: 1002 for events (even none), else the rejection's."""
        before = self.state
        result = self.run(AckNotification(notification_id=raw, polls=polls))
        if isinstance(result, Rejection):
            assert self.state == before, "a rejected ack changes nothing"
            return result.code
        return Code.ACKED

    # --- rules ------------------------------------------------------------------------
    @rule(seconds=st.integers(min_value=0, max_value=3600))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(n=st.integers(min_value=0, max_value=10**6))
    def enqueue(self, n: int) -> None:
        result = self.run(EnqueueNotification(outcome(n)))
        assert not isinstance(result, Rejection)
        (event,) = result
        assert isinstance(event, NotificationQueued)
        assert event.notification.id == self.next_id
        assert event.at == self.now
        self.queue.append(self.next_id)
        self.outcomes[self.next_id] = outcome(n)
        self.next_id += 1

    @rule(polls=st.booleans())
    def poll(self, polls: bool) -> None:
        self.polls_made += 1
        svtrid = f"poll-{self.polls_made}"
        before = self.state
        result = self.run(PollNotification(svtrid=svtrid, polls=polls))
        if not polls:
            assert isinstance(result, Rejection)
            assert result.code == Code.POLL_NOT_ALLOWED
            assert self.state == before
            return
        if not self.queue:
            assert isinstance(result, Rejection)
            assert result.code == Code.QUEUE_EMPTY
            return
        assert not isinstance(result, Rejection)
        head = self.queue[0]
        if head in self.first_retrieval:
            assert result == [], "only the first retrieval is recorded"
        else:
            assert result == [NotificationRetrieved(id=head, svtrid=svtrid, at=self.now)]
            self.first_retrieval[head] = (self.now, svtrid)
        answer = peek(self.state)
        assert answer is not None
        assert (answer.notification.id, answer.count) == (head, len(self.queue))
        assert answer.notification.outcome == self.outcomes[head]

    @precondition(lambda self: bool(self.queue))
    @rule(polls=st.booleans(), padding=st.sampled_from(["", " ", "\n"]))
    def ack_the_head(self, polls: bool, padding: str) -> None:
        head = self.queue[0]
        code = self.ack_answer(f"{padding}{head}{padding}", polls)
        if not polls:
            assert code == Code.POLL_NOT_ALLOWED
            return
        assert code == Code.ACKED
        assert self.history[-1] == NotificationAcked(id=head, at=self.now)
        self.queue.pop(0)
        self.last_acked = head

    @rule(
        near=st.integers(min_value=1, max_value=60),
        far=st.integers(min_value=1, max_value=10**18 - 1),
        use_far=st.booleans(),
        polls=st.booleans(),
    )
    def ack_a_wrong_id(self, near: int, far: int, use_far: bool, polls: bool) -> None:
        # `near` hits acked, queued and future ids; `far` anyone else's, or anything.
        wrong = far if use_far else near
        if (self.queue and wrong == self.queue[0]) or wrong == self.last_acked:
            wrong = self.next_id + wrong  # not given out yet: still wrong
        code = self.ack_answer(str(wrong), polls)
        assert code == (Code.NOTIFICATION_NOT_FOUND if polls else Code.POLL_NOT_ALLOWED)

    @rule(raw=MALFORMED, polls=st.booleans())
    def ack_a_malformed_id(self, raw: str, polls: bool) -> None:
        code = self.ack_answer(raw, polls)
        assert code == (Code.NOTIFICATION_NOT_FOUND if polls else Code.POLL_NOT_ALLOWED)

    @precondition(lambda self: self.last_acked is not None)
    @rule(polls=st.booleans())
    def re_ack_the_last_acked_id(self, polls: bool) -> None:
        events_before = len(self.history)
        code = self.ack_answer(str(self.last_acked), polls)
        assert code == (Code.ACKED if polls else Code.POLL_NOT_ALLOWED)
        assert len(self.history) == events_before, "a re-ack records nothing"

    # --- invariants -------------------------------------------------------------------
    @invariant()
    def the_queue_is_the_model_in_order(self) -> None:
        assert [n.id for n in self.state.queue] == self.queue
        assert self.state.next_id == self.next_id
        assert self.state.last_acked == self.last_acked

    @invariant()
    def ids_strictly_increase(self) -> None:
        ids = [n.id for n in self.state.queue]
        assert all(a < b for a, b in pairwise(ids))
        assert all(id_ < self.state.next_id for id_ in ids)

    @invariant()
    def peek_gives_the_head_and_the_count(self) -> None:
        answer = peek(self.state)
        if not self.queue:
            assert answer is None
        else:
            assert answer is not None
            assert (answer.notification.id, answer.count) == (self.queue[0], len(self.queue))

    @invariant()
    def retrievals_are_the_first_polls_that_returned_each_notification(self) -> None:
        for notification in self.state.queue:
            recorded = self.first_retrieval.get(notification.id)
            if recorded is None:
                assert notification.retrieved_at is None
                assert notification.retrieved_by is None
            else:
                assert (notification.retrieved_at, notification.retrieved_by) == recorded

    def teardown(self) -> None:
        # Once per run rather than per step: replay is the same check at every length.
        assert fold(MAILBOX, self.history) == self.state


MailboxAgainstAList.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None
)
test_mailbox_against_a_list = MailboxAgainstAList.TestCase
