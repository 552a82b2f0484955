"""The delivery process: claiming a delivery's next attempt (due, not due, leased by
another, lease expired, ordered and the one before not done, endpoint paused, probe
due) and settling what the attempt got (success, a failure tried again, 410, the
schedule used up, fallback to the poll queue, e-mail), each medium by its own settings."""

from datetime import datetime, timedelta

import pytest
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
    MAILBOX,
    Channel,
    Code,
    EmailChannel,
    Notification,
    Outcome,
    PollChannel,
    RetryPolicy,
    UrlChannel,
)
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain.account import AccountClosed, AccountOpened, AccountState
from tidings.domain.dispatch import (
    LEASE_PER_TIMEOUT,
    ClaimAttempt,
    Held,
    Idle,
    Settled,
    Started,
    channel_for,
    claim,
    earlier_id,
    endpoint_key,
    lease,
    settle,
    targets,
)

from tests.gwt import T0, process, spec

URL = "https://client.example/notify"
ADDRESS = "ops@client.example"
CLAIM = ClaimAttempt(claimant="runner-1")
claiming = process(claim, timed=True)
settling = process(settle, timed=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def notification(id_: int) -> Notification:
    outcome = Outcome(
        code=1000, result="OK", timestamp=T0, cltrid="c", svtrid=f"s{id_}", command="ping-async"
    )
    return Notification(id=id_, outcome=outcome)


def opened(channel: Channel, policy: RetryPolicy = RetryPolicy()) -> AccountOpened:
    return AccountOpened(
        login="tester",
        password_sha1="0" * 40,
        channel=channel,
        retry_policy=policy,
        allowed_ips=(),
        at=T0,
    )


def account(channel: Channel, policy: RetryPolicy = RetryPolicy()) -> AccountState:
    return spec(ACCOUNT).given(opened(channel, policy)).state


URL_ACCOUNT = account(UrlChannel(success_url=URL, timeout=10.0, pause_after=3, probe_every=30.0))
ORDERED = account(UrlChannel(success_url=URL, timeout=10.0, ordered=True))
EMAIL_ACCOUNT = account(EmailChannel(ADDRESS, timeout=20.0, pause_after=2, probe_every=90.0))
FALLS_BACK = account(UrlChannel(success_url=URL, fallback="poll"), RetryPolicy(schedule=(5.0,)))


def scheduled(
    id_: int = 2,
    *,
    medium: dlv.Medium = "url",
    policy: RetryPolicy = RetryPolicy(),
    kept: bool = True,
) -> dlv.DeliveryScheduled:
    return dlv.DeliveryScheduled(
        login="tester",
        notification_id=id_,
        medium=medium,
        target=ADDRESS if medium == "email" else URL,
        expected_status=frozenset({250}) if medium == "email" else frozenset({200}),
        retry_policy=policy,
        at=T0,
        notification=notification(id_) if kept else None,
    )


def started(number: int, seconds: float = 0, lease_s: float = 20.0) -> dlv.AttemptStarted:
    return dlv.AttemptStarted(
        number=number, at=at(seconds), claimant="runner-0", lease_until=at(seconds + lease_s)
    )


def failed(number: int, seconds: float, next_in: float | None) -> dlv.AttemptFailed:
    return dlv.AttemptFailed(
        number=number,
        status=500,
        error="unexpected status 500",
        duration_ms=5.0,
        next_attempt_at=None if next_in is None else at(seconds + next_in),
        at=at(seconds),
    )


def delivery(*events: dlv.DeliveryEvent) -> dlv.DeliveryState:
    return spec(DELIVERY).given(*events).state


def endpoint(*events: ept.EndpointEvent) -> ept.EndpointState:
    return spec(ENDPOINT).given(*events).state


HEALTHY = endpoint()
PAUSED = endpoint(
    ept.EndpointFailed(consecutive=1, at=T0),
    ept.EndpointPaused(probe_every=30.0, next_probe_at=at(30), at=T0),
)
NONE_BEFORE = dlv.initial
DUE = delivery(scheduled())


def started_at(now: datetime, number: int = 1, lease_s: float = 20.0) -> dlv.AttemptStarted:
    return dlv.AttemptStarted(
        number=number, at=now, claimant="runner-1", lease_until=now + timedelta(seconds=lease_s)
    )


# --- Claiming ---------------------------------------------------------------------------
def test_a_due_delivery_is_started_for_the_claimant_with_a_lease_of_twice_its_timeout() -> None:
    claiming.given(DUE, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM).then(
        Started(number=1, lease_until=at(20), delivery=[started_at(T0)], endpoint=[])
    )


def test_a_delivery_not_due_yet_is_held_until_its_next_attempt() -> None:
    waiting = delivery(scheduled(), started(1), failed(1, 1, next_in=300))
    claiming.given(waiting, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM, now=at(2)).then(
        Held(until=at(301))
    )


def test_a_failed_delivery_is_started_again_once_its_next_attempt_is_due() -> None:
    waiting = delivery(scheduled(), started(1), failed(1, 1, next_in=300))
    claiming.given(waiting, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM, now=at(301)).then(
        Started(
            number=2,
            lease_until=at(321),
            delivery=[started_at(at(301), number=2)],
            endpoint=[],
        )
    )


def test_an_attempt_leased_by_another_process_is_held_until_its_lease_runs_out() -> None:
    leased = delivery(scheduled(), started(1, lease_s=20.0))
    claiming.given(leased, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM, now=at(19)).then(
        Held(until=at(20))
    )


def test_an_attempt_whose_lease_ran_out_is_taken_over_as_the_next() -> None:
    leased = delivery(scheduled(), started(1, lease_s=20.0))
    claiming.given(leased, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM, now=at(20)).then(
        Started(
            number=2,
            lease_until=at(40),
            delivery=[dlv.AttemptExpired(number=1, at=at(20)), started_at(at(20), number=2)],
            endpoint=[],
        )
    )


@pytest.mark.parametrize(
    "done",
    [
        (),  # never scheduled
        (
            scheduled(),
            started(1),
            dlv.AttemptSucceeded(number=1, status=200, duration_ms=1.0, at=T0),
        ),
        (scheduled(), dlv.DeliveryGaveUp(reason="operator", at=T0)),
    ],
    ids=["never scheduled", "succeeded", "gave up"],
)
def test_a_delivery_never_scheduled_or_done_is_idle(done: tuple[dlv.DeliveryEvent, ...]) -> None:
    claiming.given(delivery(*done), URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM).then(Idle())


def test_a_delivery_that_did_not_keep_its_notification_gives_up() -> None:
    legacy = delivery(scheduled(kept=False))
    claiming.given(legacy, URL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM).then(
        Idle(delivery=[dlv.DeliveryGaveUp(reason="its notification was not recorded", at=T0)])
    )


CLOSED = spec(ACCOUNT).given(opened(UrlChannel(success_url=URL)), AccountClosed(reason="", at=T0))
CLOSED_ACCOUNT = CLOSED.state


@pytest.mark.parametrize(
    ("events", "now"),
    [
        ((scheduled(),), T0),
        ((scheduled(), started(1), failed(1, 1, next_in=300)), at(301)),
        ((scheduled(), started(1, lease_s=20.0)), at(20)),
    ],
    ids=["due", "its retry due", "its lease run out"],
)
def test_a_delivery_of_a_closed_account_gives_up_when_it_falls_due_saying_why(
    events: tuple[dlv.DeliveryEvent, ...], now: datetime
) -> None:
    # (its endpoint paused: no probe is due, yet it gives up)
    claiming.given(delivery(*events), CLOSED_ACCOUNT, PAUSED, NONE_BEFORE).when(CLAIM, now).then(
        Idle(delivery=[dlv.DeliveryGaveUp(reason="the account is closed", at=now)])
    )


def test_a_closed_accounts_delivery_not_due_yet_or_leased_is_held_as_any_other() -> None:
    leased = delivery(scheduled(), started(1, lease_s=20.0))
    claiming.given(leased, CLOSED_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM, now=at(19)).then(
        Held(until=at(20))
    )


@pytest.mark.parametrize(
    ("before", "until"),
    [((scheduled(1),), T0), ((scheduled(1), started(1, lease_s=20.0)), at(20))],
    ids=["scheduled: due now", "in flight: until its lease runs out"],
)
def test_on_an_ordered_account_a_delivery_waits_while_the_one_before_is_not_done(
    before: tuple[dlv.DeliveryEvent, ...], until: datetime
) -> None:
    earlier = delivery(*before)
    claiming.given(DUE, ORDERED, HEALTHY, earlier).when(CLAIM).then(
        Held(until=until, waits_on=("delivery", "tester/1"))
    )


def test_on_an_ordered_account_the_wait_lasts_at_most_until_the_one_before_is_due() -> None:
    earlier = delivery(scheduled(1), started(1), failed(1, 1, next_in=300))
    claiming.given(DUE, ORDERED, HEALTHY, earlier).when(CLAIM, now=at(2)).then(
        Held(until=at(301), waits_on=("delivery", "tester/1"))
    )


@pytest.mark.parametrize(
    "before",
    [
        (
            scheduled(1),
            started(1),
            dlv.AttemptSucceeded(number=1, status=200, duration_ms=1.0, at=T0),
        ),
        (scheduled(1), dlv.DeliveryGaveUp(reason="operator", at=T0)),
        (),  # never pushed (an outcome the channel does not send)
    ],
    ids=["succeeded", "gave up", "never scheduled"],
)
def test_on_an_ordered_account_a_delivery_starts_once_the_one_before_is_done(
    before: tuple[dlv.DeliveryEvent, ...],
) -> None:
    decided = claiming.given(DUE, ORDERED, HEALTHY, delivery(*before)).when(CLAIM).decided
    assert isinstance(decided, Started)


def test_ordering_names_the_notification_before_and_none_for_the_first() -> None:
    assert earlier_id(ORDERED, DUE) == 1
    assert earlier_id(ORDERED, delivery(scheduled(1))) is None
    assert earlier_id(URL_ACCOUNT, DUE) is None


def test_an_unordered_account_does_not_wait_for_the_delivery_before() -> None:
    earlier = delivery(scheduled(1), started(1))
    decided = claiming.given(DUE, URL_ACCOUNT, HEALTHY, earlier).when(CLAIM).decided
    assert isinstance(decided, Started)


def test_e_mail_is_never_ordered() -> None:
    assert earlier_id(ORDERED, delivery(scheduled(2, medium="email"))) is None


def test_a_delivery_to_a_paused_endpoint_waits_for_its_next_probe() -> None:
    claiming.given(DUE, URL_ACCOUNT, PAUSED, NONE_BEFORE).when(CLAIM, now=at(29)).then(
        Held(until=at(30), waits_on=("endpoint", f"tester/{URL}"))
    )


def test_once_the_probe_is_due_the_attempt_is_the_probe_of_the_paused_endpoint() -> None:
    claiming.given(DUE, URL_ACCOUNT, PAUSED, NONE_BEFORE).when(CLAIM, now=at(30)).then(
        Started(
            number=1,
            lease_until=at(50),
            delivery=[started_at(at(30))],
            endpoint=[ept.ProbeClaimed(next_probe_at=at(60), at=at(30))],
        )
    )


def test_an_e_mail_claim_is_leased_for_twice_the_e_mail_timeout() -> None:
    mailed = delivery(scheduled(medium="email"))
    decided = claiming.given(mailed, EMAIL_ACCOUNT, HEALTHY, NONE_BEFORE).when(CLAIM).decided
    assert isinstance(decided, Started) and decided.lease_until == at(40)


# --- Per-medium settings ------------------------------------------------------------------
def test_a_lease_is_twice_the_attempt_timeout() -> None:
    assert LEASE_PER_TIMEOUT == 2
    assert lease(UrlChannel(timeout=10.0)) == 20.0
    assert lease(EmailChannel(ADDRESS, timeout=45.0)) == 90.0


def test_a_delivery_goes_by_its_accounts_channel_of_its_medium() -> None:
    assert channel_for(URL_ACCOUNT.channel, scheduled()) is URL_ACCOUNT.channel
    assert channel_for(EMAIL_ACCOUNT.channel, scheduled(medium="email")) is EMAIL_ACCOUNT.channel


@pytest.mark.parametrize("now", [PollChannel(), EmailChannel(ADDRESS, timeout=5.0)])
def test_a_url_delivery_whose_account_moved_channel_goes_by_the_url_defaults(
    now: Channel,
) -> None:
    assert channel_for(now, scheduled()) == UrlChannel()
    assert lease(channel_for(now, scheduled())) == 30.0  # the URL default timeout: 15 s


@pytest.mark.parametrize("now", [PollChannel(), UrlChannel(success_url=URL, pause_after=1)])
def test_an_e_mail_delivery_whose_account_moved_channel_goes_by_the_e_mail_defaults(
    now: Channel,
) -> None:
    assert channel_for(now, scheduled(medium="email")) == EmailChannel(ADDRESS)


def test_e_mail_endpoints_have_health_settings_of_their_own() -> None:
    assert (EmailChannel(ADDRESS).pause_after, EmailChannel(ADDRESS).probe_every) == (10, 60.0)
    mailed = EmailChannel(ADDRESS, pause_after=2, probe_every=90.0)
    assert (mailed.pause_after, mailed.probe_every) == (2, 90.0)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (
            UrlChannel(success_url=URL, error_url="https://client.example/e"),
            [URL, "https://client.example/e"],
        ),
        (UrlChannel(success_url=URL, error_url=URL), [URL]),
        (UrlChannel(error_url=URL), [URL]),
        (EmailChannel(ADDRESS), [ADDRESS]),
        (PollChannel(), []),
    ],
    ids=["both URLs", "one URL twice", "only an error URL", "e-mail", "poll"],
)
def test_the_endpoints_of_a_channel_are_its_urls_each_once_or_its_address(
    channel: Channel, expected: list[str]
) -> None:
    assert targets(channel) == expected


def test_the_endpoint_of_a_delivery_is_its_accounts_target() -> None:
    assert endpoint_key(DUE) == f"tester/{URL}"
    assert endpoint_key(dlv.initial) is None


# --- Settling -----------------------------------------------------------------------------
IN_FLIGHT = delivery(scheduled(), started(1))
EMPTY_MAILBOX = spec(MAILBOX).given().state


def answer(status: int | None, error: str | None = None) -> dlv.RecordAttempt:
    return dlv.RecordAttempt(status=status, error=error, duration_ms=5.0, number=1)


def test_a_success_is_recorded_and_a_healthy_endpoint_writes_nothing() -> None:
    settling.given(IN_FLIGHT, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX).when(
        answer(200), now=at(1)
    ).then(
        Settled(
            delivery=[dlv.AttemptSucceeded(number=1, status=200, duration_ms=5.0, at=at(1))],
            endpoint=[],
            mailbox=[],
        )
    )


def test_a_success_resumes_a_paused_endpoint() -> None:
    decided = (
        settling.given(IN_FLIGHT, URL_ACCOUNT, PAUSED, EMPTY_MAILBOX)
        .when(answer(200), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.endpoint == [ept.EndpointResumed(by="probe", at=at(1))]


def test_a_retryable_failure_is_tried_again_and_counted_against_the_endpoint() -> None:
    settling.given(IN_FLIGHT, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX).when(
        answer(500), now=at(1)
    ).then(
        Settled(
            delivery=[failed(1, 1, next_in=5.0)],
            endpoint=[ept.EndpointFailed(consecutive=1, at=at(1))],
            mailbox=[],
        )
    )


def test_the_failure_that_reaches_the_accounts_pause_after_pauses_the_endpoint() -> None:
    twice = endpoint(*(ept.EndpointFailed(consecutive=n, at=T0) for n in (1, 2)))
    decided = (
        settling.given(IN_FLIGHT, URL_ACCOUNT, twice, EMPTY_MAILBOX)
        .when(answer(500), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.endpoint == [
        ept.EndpointFailed(consecutive=3, at=at(1)),
        ept.EndpointPaused(probe_every=30.0, next_probe_at=at(31), at=at(1)),
    ]


def test_410_gone_gives_up_at_once() -> None:
    decided = (
        settling.given(IN_FLIGHT, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX)
        .when(answer(410), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.delivery[-1] == dlv.DeliveryGaveUp(
        reason="the receiver answered 410 Gone", at=at(1)
    )
    assert decided.endpoint == [ept.EndpointFailed(consecutive=1, at=at(1))]
    assert decided.mailbox == []  # the account does not fall back


def test_the_failure_that_uses_up_the_schedule_gives_up() -> None:
    last = delivery(scheduled(policy=RetryPolicy(schedule=())), started(1))
    decided = (
        settling.given(last, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX)
        .when(answer(500), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.delivery == [
        failed(1, 1, next_in=None),
        dlv.DeliveryGaveUp(reason="retry schedule used up; last: unexpected status 500", at=at(1)),
    ]


def test_a_give_up_falls_back_to_the_poll_queue_when_the_account_says_so() -> None:
    last = delivery(scheduled(policy=RetryPolicy(schedule=())), started(1))
    decided = (
        settling.given(last, FALLS_BACK, HEALTHY, EMPTY_MAILBOX)
        .when(answer(410), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.mailbox == [mbx.NotificationQueued(notification=notification(2), at=at(1))]


def test_a_failure_tried_again_does_not_fall_back() -> None:
    decided = (
        settling.given(IN_FLIGHT, FALLS_BACK, HEALTHY, EMPTY_MAILBOX)
        .when(answer(500), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled) and decided.mailbox == []


def test_an_e_mail_endpoint_pauses_by_the_e_mail_channels_own_settings() -> None:
    mailed = delivery(scheduled(medium="email"), started(1))
    once = endpoint(ept.EndpointFailed(consecutive=1, at=T0))
    decided = (
        settling.given(mailed, EMAIL_ACCOUNT, once, EMPTY_MAILBOX)
        .when(answer(451, "greylisted"), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.endpoint == [
        ept.EndpointFailed(consecutive=2, at=at(1)),
        ept.EndpointPaused(probe_every=90.0, next_probe_at=at(91), at=at(1)),
    ]


def test_an_e_mail_delivery_on_an_account_now_pushing_to_a_url_keeps_the_e_mail_defaults() -> None:
    mailed = delivery(scheduled(medium="email"), started(1))
    decided = (
        settling.given(mailed, URL_ACCOUNT, endpoint(
            *(ept.EndpointFailed(consecutive=n, at=T0) for n in (1, 2))
        ), EMPTY_MAILBOX)
        .when(answer(451, "greylisted"), now=at(1))
        .decided
    )  # fmt: skip
    assert isinstance(decided, Settled)
    # the URL channel pauses after 3; e-mail's default is 10
    assert decided.endpoint == [ept.EndpointFailed(consecutive=3, at=at(1))]


def test_a_permanent_smtp_refusal_gives_up_an_e_mail_delivery() -> None:
    mailed = delivery(scheduled(medium="email"), started(1))
    decided = (
        settling.given(mailed, EMAIL_ACCOUNT, HEALTHY, EMPTY_MAILBOX)
        .when(answer(550, "no such user"), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert decided.delivery[-1] == dlv.DeliveryGaveUp(
        reason="the mail server refused it for good (550)", at=at(1)
    )


def test_an_e_mail_delivery_succeeds_on_250() -> None:
    mailed = delivery(scheduled(medium="email"), started(1))
    decided = (
        settling.given(mailed, EMAIL_ACCOUNT, HEALTHY, EMPTY_MAILBOX)
        .when(answer(250), now=at(1))
        .decided
    )
    assert isinstance(decided, Settled)
    assert isinstance(decided.delivery[0], dlv.AttemptSucceeded)


def test_the_late_answer_of_an_attempt_taken_over_is_refused_and_settles_nothing() -> None:
    taken_over = delivery(
        scheduled(), started(1), dlv.AttemptExpired(number=1, at=at(20)), started(2, 20)
    )
    settling.given(taken_over, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX).when(
        answer(200), now=at(21)
    ).then_rejected(Code.STATUS_PROHIBITS, "attempt 1 was taken over")


def test_an_answer_with_no_attempt_in_flight_is_refused() -> None:
    settling.given(DUE, URL_ACCOUNT, HEALTHY, EMPTY_MAILBOX).when(answer(200)).then_rejected(
        Code.STATUS_PROHIBITS
    )
