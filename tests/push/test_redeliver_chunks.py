"""`redeliver` of an account's deliveries works a chunk of them a unit of work, so that
a long history does not hold up the other writers: the ids sent again come in order
across chunks, each chunk that sent some is recorded as the operator's action with
them, and 2304 is answered only when no chunk sent anything, nothing done."""

import pytest
from tidings.adapters import Actor, Rejected, Tidings, UrlChannel
from tidings.adapters.push.views import Attempted, Claim, Reply
from tidings.domain import Code

# Over two chunks of the account's deliveries; one gives up in the first and the third.
_ENDED = 250
_GIVE_UP = (3, 240)


def _gives_up(t: Tidings, n: int) -> None:
    """The delivery's one attempt answered 410 gone, claimed and recorded as the push
    runner does (nothing is sent): it gives up at once."""
    [claim] = t.settle_attempts([], [("shop", n)], claimant="test")[1]
    assert isinstance(claim, Claim)
    reply = Reply(status=410, duration_ms=1.0)
    got = Attempted(login="shop", notification_id=n, number=claim.number, reply=reply, jitter=0)
    t.settle_attempts([got], [], claimant="test")


def _account(t: Tidings) -> None:
    t.open_account("shop", "123456", channel=UrlChannel(success_url="https://shop.example/n"))
    t.add_operator("alice")
    for i in range(_ENDED):
        t.end(t.accept("shop", f"c-{i}", "ping-async").svtrid, 1000, "OK")


def test_the_deliveries_of_several_chunks_are_sent_again_in_order(db_url: str) -> None:
    with Tidings(db_url) as t:
        _account(t)
        for n in _GIVE_UP:
            _gives_up(t, n)
        assert t.redeliver("shop", by=Actor("alice", "redeliver")) == list(_GIVE_UP)
        assert [t.delivery("shop", n).status for n in _GIVE_UP] == ["scheduled"] * 2
        details = [e.event.detail for e in t.operator_actions("shop")]  # type: ignore[attr-defined]
    assert details == [f"requeued {n}" for n in _GIVE_UP]


def test_none_to_send_again_in_any_chunk_is_refused_with_nothing_done(db_url: str) -> None:
    with Tidings(db_url) as t:
        _account(t)
        with pytest.raises(Rejected) as refused:
            t.redeliver("shop", by=Actor("alice", "redeliver"))
        assert refused.value.code == Code.STATUS_PROHIBITS
        assert t.operator_actions("shop") == []
        assert t.deliveries("shop", status="gave_up") == []
