"""Endpoint health: failures in a row pause an endpoint, its deliveries wait, one probe
goes out per interval, a success or an operator resumes it; all of it in the trail."""

import itertools
from collections.abc import Iterator

import pytest
from tidings.adapters.library import Rejected, Tidings
from tidings.domain import Code, RetryPolicy, UrlChannel
from tidings.domain.endpoint import ProbeClaimed

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

SCHEDULE = RetryPolicy(schedule=(0.05,) * 20, jitter=0.0)


@pytest.fixture
def t(db_url: str, receiver: Receiver) -> Iterator[Tidings]:
    with Tidings(db_url) as tidings:
        yield tidings


def account(t: Tidings, url: str, **settings: object) -> list[int]:
    channel = UrlChannel(success_url=url, **settings)  # type: ignore[arg-type]
    t.open_account("shaky", "123456", channel=channel, retry_policy=SCHEDULE)
    return [t.end(t.accept("shaky", "c", "ping-async").svtrid, 1000, "OK").id for _ in range(2)]


def test_a_paused_endpoint_is_probed_once_per_interval_and_a_success_resumes_it(
    t: Tidings, receiver: Receiver
) -> None:
    url = receiver.url("/down/5")
    ids = account(t, url, pause_after=3, probe_every=0.5)
    with running(t):
        wait_until(
            lambda: all(t.delivery("shaky", n).status == "succeeded" for n in ids),
            what="both deliveries, after the pause",
        )
    trail = [e.event for e in t.trail(endpoint=("shaky", url))]
    kinds = [type(event).__name__ for event in trail]
    assert kinds.count("EndpointPaused") == 1
    assert kinds[-1] == "EndpointResumed" and trail[-1].by == "probe"
    # 5 failures: 3 paused it (and an attempt in flight then may add one); the probes
    # failed until the 5th, one per interval.
    assert kinds.count("EndpointFailed") == 5
    probes = [event.at for event in trail if isinstance(event, ProbeClaimed)]
    assert len(probes) >= 2
    assert all((b - a).total_seconds() >= 0.5 for a, b in itertools.pairwise(probes))
    # While paused the deliveries waited: no attempt but the probes, nothing spent.
    assert len(receiver.to("/down/5")) == 5 + len(ids)
    assert sum(len(t.delivery("shaky", n).attempts) for n in ids) == 5 + len(ids)


def test_an_operator_resumes_a_paused_endpoint(t: Tidings, receiver: Receiver) -> None:
    url = receiver.url("/down/2")
    ids = account(t, url, pause_after=2, probe_every=3600.0)
    with running(t):
        wait_until(lambda: t.endpoints("shaky")[0].paused, what="the pause")
        assert t.resume_endpoint("shaky") == [url]
        wait_until(
            lambda: all(t.delivery("shaky", n).status == "succeeded" for n in ids),
            what="the deliveries after the resume",
        )
    resumed = [e.event for e in t.trail(endpoint=("shaky", url)) if e.kind == "EndpointResumed"]
    assert [event.by for event in resumed] == ["operator"]
    with pytest.raises(Rejected) as nothing:  # not paused any more: nothing to resume
        t.resume_endpoint("shaky")
    assert (nothing.value.code, nothing.value.text) == (
        Code.STATUS_PROHIBITS,
        "no push endpoint of the account is paused",
    )
    with pytest.raises(Rejected) as nothing:
        t.resume_endpoint("shaky", url)
    assert (nothing.value.code, nothing.value.text) == (
        Code.STATUS_PROHIBITS,
        "endpoint is not paused",
    )
