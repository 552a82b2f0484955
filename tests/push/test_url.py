"""URL push, WAPI form: a real receiver on 127.0.0.1, a real runner, a real store.

Schedules are made fast through the account's retry policy, never by patching."""

import itertools
import socket
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import xmltodict
from standardwebhooks import Webhook, WebhookVerificationError
from tidings.adapters.library import Rejected, Tidings
from tidings.adapters.views import OpenedAccount
from tidings.domain import Code, RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

FAST = RetryPolicy(schedule=(0.05, 0.05, 0.05), jitter=0.0)


@pytest.fixture
def tidings(db_url: str, receiver: Receiver) -> Iterator[Tidings]:
    with Tidings(db_url) as t:
        yield t


def opened(t: Tidings, receiver: Receiver, path: str, **settings: object) -> OpenedAccount:
    channel = UrlChannel(success_url=receiver.url(path), **settings)  # type: ignore[arg-type]
    return t.open_account("pushed", "123456", channel=channel, retry_policy=FAST)


def url_account(t: Tidings, receiver: Receiver, path: str, **settings: object) -> str:
    return opened(t, receiver, path, **settings).login


def ended(t: Tidings, login: str, cltrid: str = "AvrX87Kqk6h3") -> int:
    pending = t.accept(login, cltrid, "ping-async")
    return t.end(pending.svtrid, 1000, "OK").id


def status_of(t: Tidings, login: str, n: int, wanted: str) -> bool:
    return t.delivery(login, n).status == wanted


def test_a_notification_is_posted_as_the_wapi_form_signed(
    tidings: Tidings, receiver: Receiver
) -> None:
    account = opened(tidings, receiver, "/ok")
    login = account.login
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, n, "succeeded"), what="delivery")
    [request] = receiver.to("/ok")
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    notify = xmltodict.parse(parse_qs(request.body.decode())["request"][0])["notify"]
    assert (notify["code"], notify["clTRID"], notify["command"], notify["ID"]) == (
        "1000",
        "AvrX87Kqk6h3",
        "ping-async",
        str(n),
    )
    Webhook(account.signing_secret).verify(
        request.body, request.headers, json_parse=False
    )  # raises if wrong
    state = tidings.delivery(login, n)
    assert state.attempts[-1].status == 200
    trail = tidings.trail(notification=(login, n))
    assert [e.kind for e in trail][-3:] == [
        "DeliveryScheduled",
        "AttemptStarted",
        "AttemptSucceeded",
    ]
    succeeded = trail[-1].event
    assert (succeeded.status, succeeded.answer) == (200, "thanks")  # what the receiver said
    assert succeeded.duration_ms > 0


def test_a_failing_receiver_is_tried_again_on_the_schedule_with_one_webhook_id(
    tidings: Tidings, receiver: Receiver
) -> None:
    login = url_account(tidings, receiver, "/flaky/2")
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, n, "succeeded"), what="third attempt")
    requests = receiver.to("/flaky/2")
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    kinds = [e.kind for e in tidings.trail(notification=(login, n)) if e.kind.startswith("Attempt")]
    assert kinds == ["AttemptStarted", "AttemptFailed"] * 2 + ["AttemptStarted", "AttemptSucceeded"]
    failed = tidings.delivery(login, n).attempts[0]
    assert (failed.status, failed.error) == (500, "unexpected status 500")


def test_a_delivery_that_used_up_its_schedule_is_kept_listed_and_redelivered(
    tidings: Tidings, receiver: Receiver
) -> None:
    login = url_account(tidings, receiver, "/flaky/4")
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, n, "gave_up"), what="giving up")
        [view] = tidings.deliveries(login, status="gave_up")
        assert (view.notification_id, view.attempts, view.last_status) == (n, 4, 500)
        assert view.gave_up_reason.startswith("retry schedule used up")
        assert tidings.redeliver(login) == [n]
        wait_until(lambda: status_of(tidings, login, n, "succeeded"), what="redelivery")
    assert tidings.deliveries(login, status="gave_up") == []
    assert len(receiver.to("/flaky/4")) == 5


def test_410_gone_stops_the_delivery_at_once(tidings: Tidings, receiver: Receiver) -> None:
    login = url_account(tidings, receiver, "/gone")
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, n, "gave_up"), what="giving up")
    assert len(receiver.to("/gone")) == 1
    assert tidings.delivery(login, n).gave_up_reason == "the receiver answered 410 Gone"


def test_retry_after_on_429_sets_the_next_attempt(tidings: Tidings, receiver: Receiver) -> None:
    login = "pushed"
    policy = RetryPolicy(schedule=(0.05,), jitter=0.0, retry_after_min=0.1, retry_after_max=5)
    channel = UrlChannel(success_url=receiver.url("/busy"))
    tidings.open_account(login, "123456", channel=channel, retry_policy=policy)
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, n, "succeeded"), what="second attempt")
    failed = next(
        e.event for e in tidings.trail(notification=(login, n)) if e.kind == "AttemptFailed"
    )
    assert (failed.next_attempt_at - failed.at).total_seconds() == 1.0
    first, second = receiver.to("/busy")
    assert second.started - first.ended >= 0.9


def test_a_receiver_that_hangs_fails_the_attempt_at_the_account_timeout(
    tidings: Tidings, receiver: Receiver
) -> None:
    login = url_account(tidings, receiver, "/hang", connect_timeout=0.2, timeout=0.3)
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: tidings.delivery(login, n).failures >= 1, what="a timed-out attempt")
    attempt = tidings.delivery(login, n).attempts[0]
    assert attempt.status is None and attempt.error is not None
    assert "timed out" in attempt.error.lower() or "timeout" in attempt.error.lower()
    assert attempt.duration_ms is not None and attempt.duration_ms < 2000


def test_redirects_are_not_followed(tidings: Tidings, receiver: Receiver) -> None:
    login = url_account(tidings, receiver, "/redirect")
    n = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: tidings.delivery(login, n).failures >= 1, what="a failed attempt")
    assert receiver.to("/ok") == []
    assert tidings.delivery(login, n).attempts[0].status == 302


def test_redeliver_one_that_has_not_given_up_is_2304(tidings: Tidings, receiver: Receiver) -> None:
    login = url_account(tidings, receiver, "/ok")
    n = ended(tidings, login)
    with pytest.raises(Rejected) as refused:
        tidings.redeliver(login, n)
    assert refused.value.code == Code.STATUS_PROHIBITS


def test_after_a_rotation_both_secrets_sign_for_the_grace_period(
    tidings: Tidings, receiver: Receiver
) -> None:
    account = opened(tidings, receiver, "/ok")
    login, old = account.login, account.signing_secret
    new = tidings.rotate_secret(login)
    first = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, first, "succeeded"), what="delivery")
    second = ended(tidings, login)
    with running(tidings, rotation_grace=timedelta(0)):
        wait_until(lambda: status_of(tidings, login, second, "succeeded"), what="delivery")
    within, after = receiver.to("/ok")
    for secret in (old, new):
        Webhook(secret).verify(within.body, within.headers, json_parse=False)
    Webhook(new).verify(after.body, after.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers, json_parse=False)


def test_an_ordered_account_gets_one_delivery_at_a_time_in_id_order(
    tidings: Tidings, receiver: Receiver
) -> None:
    login = url_account(tidings, receiver, "/flaky/2", ordered=True)
    ids = [ended(tidings, login) for _ in range(3)]
    with running(tidings):
        wait_until(
            lambda: all(status_of(tidings, login, n, "succeeded") for n in ids), what="all three"
        )
    order = [
        int(parse_qs(r.body.decode())["request"][0].split("<ID>")[1].split("<")[0])
        for r in receiver.to("/flaky/2")
    ]
    # The first one failed twice and held the others back; each then went alone, in order.
    assert order == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    requests = receiver.to("/flaky/2")
    for before, after in itertools.pairwise(requests):
        assert after.started >= before.ended


def test_redeliver_since_requeues_only_what_gave_up_from_then_on(
    tidings: Tidings, receiver: Receiver
) -> None:
    login = url_account(tidings, receiver, "/gone")
    first = ended(tidings, login)
    with running(tidings):
        wait_until(lambda: status_of(tidings, login, first, "gave_up"), what="the first")
        cut = tidings.delivery(login, first).gave_up_at
        assert cut is not None
        second = ended(tidings, login)
        wait_until(lambda: status_of(tidings, login, second, "gave_up"), what="the second")
        later = tidings.delivery(login, second).gave_up_at
        assert later is not None and later > cut
        with pytest.raises(Rejected) as refused:  # the one asked for, before since
            tidings.redeliver(login, first, since=later)
        assert refused.value.code == Code.STATUS_PROHIBITS
        assert tidings.redeliver(login, since=later) == [second]
    assert status_of(tidings, login, first, "gave_up")


def test_a_refused_connection_is_a_failed_attempt_with_its_error(
    tidings: Tidings, receiver: Receiver
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = UrlChannel(success_url=f"http://127.0.0.1:{port}/hook")
    tidings.open_account("refused", "123456", channel=channel, retry_policy=FAST)
    n = ended(tidings, "refused")
    with running(tidings):
        wait_until(lambda: tidings.delivery("refused", n).failures >= 1, what="a failed attempt")
    attempt = tidings.delivery("refused", n).attempts[0]
    assert attempt.status is None
    assert attempt.error is not None and attempt.error.startswith("ConnectError")
