"""`redeliver` of several deliveries chooses them on the states its unit of work saves
on: another writer's change between what it read and what it writes (another process
sent one again, and it was delivered) is a lost race, decided again on fresh states,
never a delivery sent once more that the choice no longer picks."""

from collections.abc import Callable
from datetime import datetime

import pytest
from tidings.adapters import Rejected, Tidings, UrlChannel
from tidings.adapters.push.views import Attempted, Claim, Reply
from tidings.domain import Code

from tests.clock import FakeClock


def _attempt(t: Tidings, login: str, n: int, status: int) -> None:
    """One attempt of the delivery answered `status`, claimed and recorded as the push
    runner does (nothing is sent)."""
    [claim] = t.settle_attempts([], [(login, n)], claimant="test")[1]
    assert isinstance(claim, Claim)
    reply = Reply(status=status, duration_ms=1.0)
    got = Attempted(login=login, notification_id=n, number=claim.number, reply=reply, jitter=0)
    t.settle_attempts([got], [], claimant="test")


class _Meanwhile:
    """A clock that runs `change` just before its `at`-th reading once armed: the
    moment one of the library's units of work starts on the states it has read."""

    def __init__(self, clock: FakeClock, at: int, change: Callable[[], None]) -> None:
        self.clock, self.at, self.change = clock, at, change
        self.readings: int | None = None  # None: not armed

    def __call__(self) -> datetime:
        if self.readings is not None:
            if self.readings == self.at:
                self.change()
            self.readings += 1
        return self.clock()


@pytest.mark.parametrize("reading", range(4))
def test_a_delivery_sent_again_and_delivered_meanwhile_is_not_resent(
    db_url: str, reading: int
) -> None:
    clock = FakeClock()
    with Tidings(db_url, clock=clock) as other:
        channel = UrlChannel(success_url="https://shop.example/n")
        other.open_account("shop", "123456", channel=channel)
        n = other.end(other.accept("shop", "c-1", "ping-async").svtrid, 1000, "OK").id
        since = clock.advance(5)  # after it was scheduled, before it gave up
        clock.advance(5)
        _attempt(other, "shop", n, 410)  # gone: it gives up at once
        assert other.delivery("shop", n).status == "gave_up"

        def meanwhile() -> None:  # another operator sends it again, and it is delivered
            try:
                other.redeliver("shop", n)
            except Rejected:  # sent again by the call under test already
                return
            _attempt(other, "shop", n, 200)

        hooked = _Meanwhile(clock, reading, meanwhile)
        with Tidings(db_url, clock=hooked) as t:
            hooked.readings = 0
            try:  # gave up since `since`, or (delivered) scheduled since: it is picked
                sent = t.redeliver("shop", since=since, delivered=True)
            except Rejected as refused:  # it succeeded meanwhile, scheduled before since
                assert refused.code == Code.STATUS_PROHIBITS
                sent = []
        kinds = [e.kind for e in other.trail(notification=("shop", n))]
        status = other.delivery("shop", n).status
    assert "DeliveryResent" not in kinds
    assert kinds.count("DeliveryRequeued") == 1  # the other's or this call's, not both
    # this call first (the other's refused), or the other's with its delivery first
    assert (sent, status) in (([n], "scheduled"), ([], "succeeded"))
