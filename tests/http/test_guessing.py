"""Password guessing: failed authentications are throttled per address and per login,
on every surface (WAPI, Merchants' x-Token, the JSON API's bearer token), and a
legitimate client at another address is not locked out."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tidings.adapters.http.limits import Limits
from tidings.adapters.http.throttle import Throttle

from tests.http.conftest import ADMIN_TOKEN, Running, serve, settings_for, wapi_auth

BUDGET = 5


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(ticks: Ticks) -> Throttle:
    return Throttle(per_address=BUDGET, per_login=BUDGET, window=60.0, clock=ticks)


def test_an_address_gets_its_budget_a_window_then_a_time_to_come_back() -> None:
    ticks = Ticks()
    throttle = _throttle(ticks)
    for n in range(BUDGET):
        assert throttle.retry_after(f"login{n}", "10.0.0.1") is None
        throttle.failed(f"login{n}", "10.0.0.1")
        ticks.now += 1
    # Given five failures at t=0..4, when the sixth try comes at t=5, then it waits 55 s.
    assert throttle.retry_after("login9", "10.0.0.1") == 55
    assert throttle.retry_after("login9", "10.0.0.2") is None  # another address
    ticks.now += 55  # the oldest failure leaves the window
    assert throttle.retry_after("login9", "10.0.0.1") is None
    assert (throttle.failures, throttle.refusals) == (BUDGET, 1)


def test_a_login_under_attack_is_refused_to_the_guessers_only() -> None:
    ticks = Ticks()
    throttle = _throttle(ticks)
    guessers = [f"10.0.1.{n}" for n in range(BUDGET)]
    for address in guessers:  # one failure each: no address is over its own budget
        throttle.failed("tester", address)
    assert throttle.retry_after("tester", guessers[0]) == 60
    assert throttle.retry_after("tester", "192.0.2.7") is None  # the account's owner
    assert throttle.retry_after("other", guessers[0]) is None  # other logins, same address


def test_memory_is_bounded_by_max_keys() -> None:
    throttle = Throttle(per_address=3, per_login=3, window=60, clock=Ticks(), max_keys=10)
    for n in range(1000):
        throttle.failed(f"random{n}", f"10.0.{n // 256}.{n % 256}")
    assert throttle.retry_after("random999", "10.0.3.231") is None  # 1 failure, budget 3


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Running]:
    limits = Limits(auth_failures_per_address=BUDGET, auth_failures_per_login=BUDGET)
    with serve(settings_for(str(tmp_path / "t.db"), limits=limits)) as running:
        running.tidings.open_account("tester", "123456")
        yield running


def _wapi(client: httpx.Client, token: str) -> httpx.Response:
    request = {"user": "tester", "auth": token, "command": "ping"}
    return client.post("/wapi/json", json=request)


def _code(response: httpx.Response) -> int:
    code: int = response.json()["response"]["code"]
    return code


def _from(running: Running, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=running.url, transport=transport, timeout=10)


def test_wapi_guesses_past_the_budget_are_refused_even_with_the_right_token(
    guarded: Running,
) -> None:
    right = wapi_auth("tester", "123456")
    with _from(guarded, "127.0.0.1") as guesser, _from(guarded, "127.0.0.2") as owner:
        for n in range(BUDGET):
            answer = _wapi(guesser, f"{n:040x}")
            assert _code(answer) == 2050 and "retry-after" not in answer.headers
        refused = _wapi(guesser, right)
        assert _code(refused) == 2050
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        # The login's budget is spent, but its owner at another address gets in.
        assert _code(_wapi(owner, right)) == 1000
    throttle = guarded.context.gate.throttle
    assert (throttle.failures, throttle.refusals) == (BUDGET, 1)


def test_merchants_tokens_are_throttled(guarded: Running) -> None:
    headers = {"x-ApplicationId": "tester", "content-type": "application/json"}
    with _from(guarded, "127.0.0.3") as guesser:
        for n in range(BUDGET):
            wrong = guesser.post(
                "/merchants/products", content="{}", headers={**headers, "x-Token": str(n)}
            )
            assert wrong.status_code == 401 and wrong.json()["Code"] == 2050
        refused = guesser.post(
            "/merchants/products", content="{}", headers={**headers, "x-Token": "123456"}
        )
    assert refused.status_code == 429 and refused.json()["Code"] == 2050
    assert int(refused.headers["retry-after"]) > 0


def test_the_api_bearer_token_is_throttled(guarded: Running) -> None:
    with _from(guarded, "127.0.0.4") as guesser, _from(guarded, "127.0.0.5") as backend:
        for n in range(BUDGET):
            wrong = guesser.get("/api/accounts/tester", headers={"authorization": f"Bearer {n}"})
            assert wrong.status_code == 401
        right = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        refused = guesser.get("/api/accounts/tester", headers=right)
        assert refused.status_code == 429 and refused.json()["code"] == 2050
        assert int(refused.headers["retry-after"]) > 0
        assert backend.get("/api/accounts/tester", headers=right).status_code == 200


def test_an_ipv6_client_counts_as_its_64() -> None:
    ticks = Ticks()
    throttle = _throttle(ticks)
    for n in range(BUDGET):
        throttle.failed(f"login{n}", f"2001:db8:1:2::{n + 1:x}")
    assert throttle.retry_after("x", "2001:db8:1:2:ffff::1") is not None  # same /64
    assert throttle.retry_after("x", "2001:db8:1:3::1") is None  # another network
    throttle.failed("y", "::ffff:10.1.2.3")  # an IPv4 client seen on an IPv6 socket
    assert throttle.retry_after("z", "10.1.2.3") is None
    for n in range(BUDGET - 1):
        throttle.failed(f"y{n}", "10.1.2.3")
    assert throttle.retry_after("z", "::ffff:10.1.2.3") is not None
