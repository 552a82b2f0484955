"""The address guard: refused when the account is configured, and again before every
attempt, after DNS, in every spelling of an address."""

import pytest
from tidings.adapters.library import Rejected, Tidings
from tidings.adapters.push.transport import AddressGuard
from tidings.domain import Code, PollChannel, RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

REFUSED = [
    "http://127.0.0.1/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one integer
    "http://0x7f000001/hook",  # ... in hex
    "http://127.1/hook",  # ... shortened
    "http://localhost/hook",  # a name that resolves to it
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://100.64.0.1/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a01:203::1]/hook",  # 6to4 of 10.1.2.3
    "http://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
    "http://[64:ff9b::10.0.0.1]/hook",  # NAT64
    "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo of 192.0.2.45
]
MALFORMED = [
    "http://user:secret@client.example/hook",
    "http://client.example/hook\r\nX-Injected: 1",
    "ftp://client.example/hook",
    "file:///etc/passwd",
]


@pytest.fixture
def t(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Tidings:
    monkeypatch.delenv("TIDINGS_PUSH_ALLOW", raising=False)
    return Tidings(sqlite_url)


@pytest.mark.parametrize("url", REFUSED)
def test_a_non_public_address_is_refused_when_configured(t: Tidings, url: str) -> None:
    with pytest.raises(Rejected) as refused:
        t.open_account("pushed", "123456", channel=UrlChannel(success_url=url))
    assert refused.value.code == Code.INVALID_PARAMETER
    assert t.account("pushed") is None


@pytest.mark.parametrize("url", MALFORMED)
def test_userinfo_control_characters_and_other_schemes_are_refused(t: Tidings, url: str) -> None:
    t.open_account("pushed", "123456")
    with pytest.raises(Rejected) as refused:
        t.configure_channel("pushed", UrlChannel(error_url=url))
    assert refused.value.code == Code.INVALID_PARAMETER
    assert "secret" not in refused.value.text
    account = t.account("pushed")
    assert account is not None and account.channel == PollChannel()


def test_a_public_address_passes() -> None:
    AddressGuard(allow=[]).check_url("http://8.8.8.8/hook")


def test_push_allow_lets_a_network_through() -> None:
    AddressGuard(allow=["127.0.0.1/32"]).check_url("http://127.0.0.1:9/hook")
    assert not AddressGuard(allow=["127.0.0.1/32"]).permits("127.0.0.2")


def test_the_address_is_checked_again_before_each_attempt(
    sqlite_url: str, receiver: Receiver
) -> None:
    """Configured while loopback was allowed; the runner's guard allows nothing: the
    attempt fails without a connection."""
    with Tidings(sqlite_url) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        policy = RetryPolicy(schedule=(60.0,), jitter=0.0)
        t.open_account("pushed", "123456", channel=channel, retry_policy=policy)
        n = t.end(t.accept("pushed", "c", "ping-async").svtrid, 1000, "OK").id
        with running(t, guard=AddressGuard(allow=[])):
            wait_until(lambda: t.delivery("pushed", n).failures == 1, what="a refused attempt")
        error = t.delivery("pushed", n).attempts[0].error
        assert error is not None and error.startswith("refused:")
    assert receiver.requests == []


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::8.8.8.8", "2001:4860::8888"])
def test_an_ipv6_address_carrying_a_public_ipv4_one_is_let_through(address: str) -> None:
    assert AddressGuard(allow=[]).permits(address)
