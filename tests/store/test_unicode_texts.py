"""Texts that are not Unicode (a lone surrogate, which Python strings can hold and no
event can): every library call refuses them with `InvalidArgument` (a notification's data:
the domain's rule for what it may carry, 2101), writes nothing, and fails no other
caller's command in the same batch."""

import asyncio
from collections.abc import Callable, Iterator

import pytest
from tidings.adapters import EmailChannel, InvalidArgument, Rejected, Tidings, UrlChannel
from tidings.domain import Code, InitRequest

from tests.clock import FakeClock

LONE = "a\ud800"
CALLS: dict[str, Callable[[Tidings, str], object]] = {
    "accept, cltrid": lambda t, _: t.accept("tester", LONE, "ping-async"),
    "accept, command": lambda t, _: t.accept("tester", "cl", LONE),
    "step": lambda t, s: t.step(s, LONE),
    "end, result": lambda t, s: t.end(s, 2000, LONE),
    "suspend": lambda t, _: t.suspend("tester", LONE),
    "close": lambda t, _: t.close_account("tester", LONE),
    "open, login": lambda t, _: t.open_account(LONE, "123456"),
    "open, password": lambda t, _: t.open_account("other", LONE),
    "password": lambda t, _: t.change_password("tester", LONE),
    "url channel": lambda t, _: t.configure_channel(
        "tester", UrlChannel(success_url="https://example.com/" + LONE)
    ),
    "e-mail channel": lambda t, _: t.configure_channel("tester", EmailChannel(LONE + "@x.cz")),
    "allowed ips": lambda t, _: t.set_allowed_ips("tester", ("10.0.0.1", LONE)),
    "init request": lambda t, _: t.accept(
        "tester",
        "cl",
        "c",
        init_request=InitRequest(
            method="POST", uri="u", content_type="t", client_ip="", headers=(("a", LONE),), body=""
        ),
    ),
}


@pytest.fixture
def t(db_url: str) -> Iterator[Tidings]:
    with Tidings(db_url, clock=FakeClock()) as tidings:
        tidings.open_account("tester", "123456")
        yield tidings


@pytest.mark.parametrize("name", CALLS)
def test_a_lone_surrogate_is_an_invalid_argument(t: Tidings, name: str) -> None:
    svtrid = t.accept("tester", "cl-1", "ping-async").svtrid
    before = sum(1 for _ in t.log())
    with pytest.raises(InvalidArgument):
        CALLS[name](t, svtrid)
    assert sum(1 for _ in t.log()) == before
    assert t.verify_log()[1] is None


def test_data_holding_a_lone_surrogate_is_refused_2101_and_writes_nothing(t: Tidings) -> None:
    # data is judged by the domain's rule for what a notification may carry
    svtrid = t.accept("tester", "cl-1", "ping-async").svtrid
    before = sum(1 for _ in t.log())
    with pytest.raises(Rejected) as refused:
        t.end(svtrid, 1000, "OK", data={"k": [LONE]})
    assert refused.value.code == Code.INVALID_PARAMETER
    assert sum(1 for _ in t.log()) == before


def test_a_refused_text_fails_no_other_command_of_its_batch(t: Tidings) -> None:
    async def both() -> list[object]:
        bad = t.accept_async("tester", LONE, "ping-async")
        good = t.accept_async("tester", "cl-good", "ping-async")
        return await asyncio.gather(bad, good, return_exceptions=True)

    bad, good = asyncio.run(both())
    assert isinstance(bad, InvalidArgument)
    assert not isinstance(good, BaseException)
    assert t.trail(cltrid="cl-good")
