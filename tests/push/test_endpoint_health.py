"""Endpoint health: failures in a row pause an endpoint, its deliveries wait, one probe
goes out per interval, a success or an operator resumes it; all of it in the trail."""

from collections.abc import Iterator

import pytest
from tidings.adapters.library import Tidings
from tidings.domain import RetryPolicy, UrlChannel

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
    url = receiver.url("/down/4")
    ids = account(t, url, pause_after=3, probe_every=0.5)
    with running(t):
        wait_until(
            lambda: all(t.delivery("shaky", n).status == "succeeded" for n in ids),
            what="both deliveries, after the pause",
        )
    kinds = [e.kind for e in t.trail(f"shaky/{url}")]
    assert kinds == [
        "EndpointFailed",
        "EndpointFailed",
        "EndpointFailed",
        "EndpointPaused",
        "ProbeClaimed",
        "EndpointFailed",
        "ProbeClaimed",
        "EndpointResumed",
    ]
    requests = receiver.to("/down/4")
    assert len(requests) == 6  # 3 before the pause, 2 probes, then the one held back
    first_probe, second_probe = requests[3], requests[4]
    assert first_probe.started - requests[2].ended >= 0.45
    assert second_probe.started - first_probe.ended >= 0.45
    # The deliveries' schedules were not spent while the endpoint was paused.
    attempts = sum(len(t.delivery("shaky", n).attempts) for n in ids)
    assert attempts == 6


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
    resumed = [e.event for e in t.trail(f"shaky/{url}") if e.kind == "EndpointResumed"]
    assert [event.by for event in resumed] == ["operator"]
    assert t.resume_endpoint("shaky") == []  # not paused any more: nothing to resume
