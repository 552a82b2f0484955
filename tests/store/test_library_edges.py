"""The library's edges: every bad argument is an `InvalidArgument` (a `TidingsError`)
that changes nothing, and a closed `Tidings` refuses every call with `Closed`."""

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tidings.adapters import (
    MAILBOX,
    Closed,
    Code,
    InvalidArgument,
    PollChannel,
    Rejected,
    RetryPolicy,
    Tidings,
    TidingsError,
)
from tidings.adapters.library import RemoteClient

from tests.clock import FakeClock

Call = Callable[[Tidings, str], object]


@pytest.fixture
def t(db_url: str) -> Iterator[Tidings]:
    with Tidings(db_url, clock=FakeClock()) as tidings:
        tidings.open_account("tester", "123456")
        yield tidings


def _pending(t: Tidings) -> str:
    return t.accept("tester", "cl-1", "ping-async").svtrid


BAD: dict[str, Call] = {
    "end with a code as text": lambda t, s: t.end(s, "1000", "OK"),  # type: ignore[arg-type]
    "end with a bool code": lambda t, s: t.end(s, True, "OK"),
    "end with a result not text": lambda t, s: t.end(s, 1000, 42),  # type: ignore[arg-type]
    "end with data not a dict": lambda t, s: t.end(s, 1000, "OK", data=[1]),  # type: ignore[arg-type]
    "end with an unknown batch state": lambda t, s: t.end(
        s,
        1000,
        "OK",
        batch_state="Done",  # type: ignore[arg-type]
    ),
    "end with a svtrid not text": lambda t, s: t.end(1, 1000, "OK"),  # type: ignore[arg-type]
    "step with no text": lambda t, s: t.step(s, None),  # type: ignore[arg-type]
    "accept with a login not text": lambda t, s: t.accept(7, "cl", "ping"),  # type: ignore[arg-type]
    "accept with a cltrid not text": lambda t, s: t.accept("tester", None, "ping"),  # type: ignore[arg-type]
    "accept with an init request not one": lambda t, s: t.accept(
        "tester",
        "cl",
        "ping",
        init_request={"method": "GET"},  # type: ignore[arg-type]
    ),
    "poll with a login not text": lambda t, s: t.poll(b"tester"),  # type: ignore[arg-type]
    "poll with a svtrid not text": lambda t, s: t.poll("tester", svtrid=5),  # type: ignore[arg-type]
    "ack with a float id": lambda t, s: t.ack("tester", 1.5),  # type: ignore[arg-type]
    "open with a password not text": lambda t, s: t.open_account("other", 123456),  # type: ignore[arg-type]
    "open with a channel not one": lambda t, s: t.open_account(
        "other",
        "pw",
        channel="poll",  # type: ignore[arg-type]
    ),
    "open with a retry policy not one": lambda t, s: t.open_account(
        "other",
        "pw",
        retry_policy={},  # type: ignore[arg-type]
    ),
    "open with addresses not text": lambda t, s: t.open_account(
        "other",
        "pw",
        allowed_ips=(1,),  # type: ignore[arg-type]
    ),
    "configure with a policy not one": lambda t, s: t.set_retry_policy("tester", 3),  # type: ignore[arg-type]
    "suspend with no reason": lambda t, s: t.suspend("tester", None),  # type: ignore[arg-type]
    "accounts with a negative limit": lambda t, s: t.accounts(limit=-1),
    "accounts with a negative cursor": lambda t, s: t.accounts(after=-5),
    "accounts with a cursor past the log": lambda t, s: t.accounts(after=2**63 - 1),
    "accounts with a limit as text": lambda t, s: t.accounts(limit="10"),  # type: ignore[arg-type]
    "log from position 0": lambda t, s: t.log(0),
    "log in pages of 0": lambda t, s: t.log(1, 0),
    "log from past 64 bits": lambda t, s: t.log(2**63),
    "log up to past 64 bits": lambda t, s: t.log(1, stop=2**70),
    "log in pages past 64 bits": lambda t, s: t.log(1, 2**63),
    "log with topics as one string": lambda t, s: t.log(topics="AccountOpened"),
    "trail of nothing": lambda t, s: t.trail(),
    "trail of two things": lambda t, s: t.trail(s, cltrid="cl-1"),
    "trail of a notification id as text": lambda t, s: t.trail(notification=("tester", "1")),  # type: ignore[arg-type]
    "state at a naive time": lambda t, s: t.state_at(MAILBOX, "tester", datetime(2026, 1, 1)),
    "state of no kind": lambda t, s: t.state_at("MAILBOX", "tester", datetime.now()),  # type: ignore[arg-type]
    "delivery of an id as text": lambda t, s: t.delivery("tester", "1"),  # type: ignore[arg-type]
    "redeliver an id as text": lambda t, s: t.redeliver("tester", "1"),  # type: ignore[arg-type]
    "redeliver since a naive time": lambda t, s: t.redeliver("tester", since=datetime(2026, 1, 1)),
    "poll with a client not one": lambda t, s: t.poll("tester", client="me"),  # type: ignore[arg-type]
    "admit no client": lambda t, s: t.admit("tester", None),  # type: ignore[arg-type]
    "resume an endpoint not text": lambda t, s: t.resume_endpoint("tester", 5),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("call", BAD.values(), ids=BAD.keys())
def test_a_bad_argument_is_an_invalid_argument_and_changes_nothing(t: Tidings, call: Call) -> None:
    # given: an account with an operation pending
    svtrid = _pending(t)
    before = t.last_position()
    # when: a call with a bad argument (a lazy one, `log`, is read too)
    with pytest.raises(InvalidArgument) as raised:
        answer = call(t, svtrid)
        if isinstance(answer, Iterator):
            list(answer)
    # then: a TidingsError with 2101 and a message, and nothing written
    assert isinstance(raised.value, TidingsError) and isinstance(raised.value, Rejected)
    assert raised.value.code == Code.INVALID_PARAMETER and raised.value.text
    assert t.last_position() == before


def test_a_call_with_two_bad_arguments_names_the_first_and_mints_no_svtrid(t: Tidings) -> None:
    # given: the svTRID last minted
    before = int(t.new_svtrid().rsplit(".", 1)[1])
    # when: an end whose code and result are both wrong, a poll of no text
    with pytest.raises(InvalidArgument, match=r"^2101 code must be an integer"):
        t.end(_pending(t), "bad", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="login"):
        t.poll(5)  # type: ignore[arg-type]
    # then: the arguments were judged in their order, and only the accept drew an svTRID
    assert int(t.new_svtrid().rsplit(".", 1)[1]) == before + 2


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.mailbox("nobody"),
        lambda t: t.deliveries("nobody"),
        lambda t: t.endpoints("nobody"),
        lambda t: t.suspend("nobody", "why"),
        lambda t: t.accept("nobody", "cl", "ping"),
        lambda t: t.configure("nobody", allowed_ips=()),
    ],
    ids=["mailbox", "deliveries", "endpoints", "suspend", "accept", "configure"],
)
def test_an_unknown_login_is_2303(t: Tidings, call: Callable[[Tidings], object]) -> None:
    with pytest.raises(Rejected) as raised:
        call(t)
    assert raised.value.code == Code.OBJECT_NOT_FOUND


@pytest.mark.parametrize(
    "options",
    [{"db": 123}, {"db": "t.db", "snapshot_every": 0}, {"db": "t.db", "signing_key": 5}],
    ids=["db not text", "no snapshot spacing", "signing key not a path"],
)
def test_a_bad_argument_to_open_the_library_is_an_invalid_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument):
        Tidings(**options)
    assert not (tmp_path / "t.db").exists()  # nothing was created


CLIENT = RemoteClient(proof=lambda account: True, ip=None)
WHEN = datetime(2026, 1, 1).astimezone()
EVERY_CALL: dict[str, Callable[[Tidings], object]] = {
    "open_account": lambda t: t.open_account("other", "pw"),
    "configure": lambda t: t.configure("tester", retry_policy=RetryPolicy()),
    "configure_channel": lambda t: t.configure_channel("tester", PollChannel()),
    "set_retry_policy": lambda t: t.set_retry_policy("tester", RetryPolicy()),
    "set_allowed_ips": lambda t: t.set_allowed_ips("tester", ()),
    "change_password": lambda t: t.change_password("tester", "pw2"),
    "rotate_secret": lambda t: t.rotate_secret("tester"),
    "suspend": lambda t: t.suspend("tester", "why"),
    "resume": lambda t: t.resume("tester"),
    "close_account": lambda t: t.close_account("tester", "why"),
    "account": lambda t: t.account("tester"),
    "accounts": lambda t: t.accounts(),
    "admit": lambda t: t.admit("tester", CLIENT),
    "accept": lambda t: t.accept("tester", "cl", "ping"),
    "step": lambda t: t.step("1.2.3", "step"),
    "end": lambda t: t.end("1.2.3", 1000, "OK"),
    "operation": lambda t: t.operation("1.2.3"),
    "pending_operations": lambda t: t.pending_operations(),
    "poll": lambda t: t.poll("tester"),
    "ack": lambda t: t.ack("tester", 1),
    "mailbox": lambda t: t.mailbox("tester"),
    "trail": lambda t: t.trail("1.2.3"),
    "state_at": lambda t: t.state_at(MAILBOX, "tester", WHEN),
    "log": lambda t: t.log(),
    "last_position": lambda t: t.last_position(),
    "settle_attempts": lambda t: t.settle_attempts([], [("tester", 1)], claimant="me"),
    "delivery": lambda t: t.delivery("tester", 1),
    "deliveries": lambda t: t.deliveries("tester"),
    "redeliver": lambda t: t.redeliver("tester"),
    "endpoints": lambda t: t.endpoints("tester"),
    "all_endpoints": lambda t: t.all_endpoints(),
    "resume_endpoint": lambda t: t.resume_endpoint("tester"),
    "accept_async": lambda t: asyncio.run(t.accept_async("tester", "cl", "ping")),
    "end_async": lambda t: asyncio.run(t.end_async("1.2.3", 1000, "OK")),
    "poll_async": lambda t: asyncio.run(t.poll_async("tester")),
    "ack_async": lambda t: asyncio.run(t.ack_async("tester", 1)),
    "admit_async": lambda t: asyncio.run(t.admit_async("tester", CLIENT)),
    "operation_async": lambda t: asyncio.run(t.operation_async("1.2.3")),
    "redeliver_async": lambda t: asyncio.run(t.redeliver_async("tester")),
    "add_operator": lambda t: t.add_operator("alice"),
    "revoke_operator": lambda t: t.revoke_operator("alice"),
    "operators": lambda t: t.operators(),
    "operator_actions": lambda t: t.operator_actions("tester"),
    "operator_by_token_async": lambda t: asyncio.run(t.operator_by_token_async("alice.x")),
    "operator_acted_async": lambda t: asyncio.run(
        t.operator_acted_async("alice", "suspend", "tester", "")
    ),
    "bulk_ack": lambda t: t.bulk_ack("tester", 1, by="alice"),
    "bulk_ack_async": lambda t: asyncio.run(t.bulk_ack_async("tester", 1, by="alice")),
    "send_test": lambda t: t.send_test("tester"),
    "send_test_async": lambda t: asyncio.run(t.send_test_async("tester")),
    "start_session_async": lambda t: asyncio.run(
        t.start_session_async("account:tester", "a" * 64, WHEN)
    ),
    "end_session_async": lambda t: asyncio.run(t.end_session_async("account:tester", None)),
    "session_open_async": lambda t: asyncio.run(t.session_open_async("account:tester", "a" * 64)),
    "trail_of": lambda t: t.trail_of("1.2.3"),
    "latest_checkpoint": lambda t: t.latest_checkpoint(),
    "verify_log": lambda t: t.verify_log(),
}


def test_every_call_is_listed_for_the_closed_check() -> None:
    public = {
        name
        for name in dir(Tidings)
        if not name.startswith("_") and callable(getattr(Tidings, name))
    }
    # `close` may be called again, `over` builds one, the rest answer without the store
    assert public - set(EVERY_CALL) == {"close", "over", "stats", "new_svtrid", "minted_here"}


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_a_closed_tidings_refuses_every_call(db_url: str, call: Callable[[Tidings], Any]) -> None:
    # given: a library closed after use
    t = Tidings(db_url)
    t.open_account("tester", "123456")
    t.close()
    # when, then: each call is refused, with a TidingsError
    with pytest.raises(Closed) as raised:
        answer = call(t)
        if isinstance(answer, Iterator):
            list(answer)
    assert isinstance(raised.value, TidingsError)
    t.close()  # closing again does nothing
