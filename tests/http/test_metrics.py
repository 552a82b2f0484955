"""`GET /metrics`: Prometheus text that prometheus-client parses, and counters that move
when traffic flows."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tidings.adapters.http.limits import Limits
from tidings.adapters.http.metrics import LogMetrics
from tidings.adapters.library import Tidings
from tidings.adapters.metrics import REGISTRY
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import Running, call_until, serve, settings_for, wait_until
from tests.http.test_wapi_cycle import json_request
from tests.push.conftest import Receiver, receiver

__all__ = ["receiver"]  # the fixture, used by name below


def scrape(server: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = server.admin("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_counters_move_when_a_notification_is_created_polled_and_acked(server: Running) -> None:
    before = scrape(server)
    login = server.login
    assert (
        server.wapi("json", json_request(login, "ping-async", "m-1")).json()["response"]["code"]
        == 1001
    )
    polled = call_until(
        lambda: server.wapi("json", json_request(login, "poll-req", "m-2")).json()["response"],
        lambda answer: answer["code"] == 1000,
        what="the ping's notification",
    )
    queued = scrape(server)
    assert queued[("tidings_queue_depth", (("account", login),))] == 1
    assert queued[("tidings_queue_oldest_age_seconds", (("account", login),))] >= 0
    assert queued[("tidings_queued_notifications", ())] >= 1
    ident = polled["data"]["notify"]["id"]
    ack = json_request(login, "poll-ack", "m-3", {"id": ident})
    assert server.wapi("json", ack).json()["response"]["code"] == 1002
    bad = json_request(login, "ping", "m-4").replace(login + '"', login + 'x"', 1)
    assert server.wapi("json", bad).json()["response"]["code"] == 2050

    after = scrape(server)

    def moved(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert moved("tidings_notifications_created_total") == 1
    assert moved("tidings_notifications_polled_total") == 1
    assert moved("tidings_notifications_acked_total") == 1
    assert moved("tidings_auth_failures_total", (("surface", "wapi"),)) == 1
    assert moved("tidings_store_commit_seconds_count") >= 3  # accept, end, poll, ack
    assert moved("tidings_store_batch_commands_sum") >= 3
    assert ("tidings_queue_depth", (("account", login),)) not in after  # its queue is empty
    assert after[("tidings_accounts", ())] >= 1


def test_a_refused_admin_token_counts_as_an_auth_failure(server: Running) -> None:
    def failures() -> float:
        return scrape(server).get(("tidings_auth_failures_total", (("surface", "api"),)), 0.0)

    before = failures()
    refused = server.client.get("/api/accounts/x", headers={"authorization": "Bearer no"})
    assert refused.status_code == 401
    assert failures() == before + 1


def test_only_the_deepest_queues_are_named(db_url: str) -> None:
    with Tidings(db_url) as tidings:
        for login, count in (("one", 1), ("two", 2), ("three", 3)):
            tidings.open_account(login, "s3cret")
            for _ in range(count):
                tidings.end(tidings.accept(login, "", "x").svtrid, 1000, "OK")
        registry = CollectorRegistry()
        registry.register(LogMetrics(lambda: tidings, top=2))
        text = generate_latest(registry).decode()
        samples = {
            (s.name, tuple(s.labels.values())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("tidings_queue_depth", ("three",))] == 3
        assert samples[("tidings_queue_depth", ("two",))] == 2
        assert ("tidings_queue_depth", ("one",)) not in samples
        assert samples[("tidings_queued_notifications", ())] == 6
        # A second scrape reads on from where the first stopped: nothing counted twice.
        tidings.poll("three")
        again = generate_latest(registry).decode()
        assert "tidings_notifications_created_total 6.0" in again
        assert "tidings_notifications_polled_total 1.0" in again


def test_push_attempts_and_deliveries_move(db_url: str, receiver: Receiver) -> None:
    with serve(settings_for(db_url)) as server:
        before = scrape(server)
        t = server.tidings
        channel = UrlChannel(success_url=receiver.url("/flaky/1"), pause_after=100)
        t.open_account("pushed", "s3cret", channel=channel,
                       retry_policy=RetryPolicy(schedule=(0.05,)))  # fmt: skip
        n = t.end(t.accept("pushed", "c", "ping-async").svtrid, 1000, "OK").id
        wait_until(lambda: t.delivery("pushed", n).status == "succeeded", what="the push")
        after = scrape(server)

    def moved(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert moved("tidings_delivery_attempts_total", (("outcome", "failed"),)) == 1
    assert moved("tidings_delivery_attempts_total", (("outcome", "succeeded"),)) == 1
    assert moved("tidings_deliveries_finished_total", (("outcome", "succeeded"),)) == 1
    assert moved("tidings_delivery_attempt_seconds_count") == 2
    assert moved("tidings_delivery_attempt_seconds_bucket", (("le", "+Inf"),)) == 2
    assert after[("tidings_deliveries", (("state", "succeeded"),))] >= 1
    assert moved("tidings_notifications_created_total") == 1


def test_throttled_requests_are_counted(sqlite_url: str) -> None:
    limits = Limits(auth_failures_per_address=2, auth_failures_per_login=2)
    with serve(settings_for(sqlite_url, limits=limits)) as server:
        # The process's own counters, read where /metrics reads them: a scrape from this
        # client would be refused now too, the token is the same.
        def counted() -> tuple[float, float]:
            labels = {"surface": "api"}
            throttled = REGISTRY.get_sample_value("tidings_throttled_requests_total", labels)
            failed = REGISTRY.get_sample_value("tidings_auth_failures_total", labels)
            return throttled or 0.0, failed or 0.0

        before = counted()
        for n in range(3):  # two failures, then a refusal before the token is looked at
            server.client.get("/api/accounts/x", headers={"authorization": f"Bearer {n}"})
        after = counted()
        assert server.admin("GET", "/metrics").status_code == 429
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)


def test_metrics_answer_an_operators_bearer_token_only(server: Running) -> None:
    # given: a queue the gauges would name, and a named operator
    login = server.login
    server.tidings.end(server.tidings.accept(login, "c", "ping-async").svtrid, 1000, "OK")
    token = server.tidings.add_operator("watcher")
    # when: scraped without a token, with a wrong one, and with the operator's
    bare = server.client.get("/metrics")
    wrong = server.client.get("/metrics", headers={"authorization": "Bearer wrong"})
    named = server.client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    # then: the first two are refused and name no account; the operator's is answered
    for refused in (bare, wrong):
        assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
        assert login not in refused.text
    assert named.status_code == 200
    assert f'tidings_queue_depth{{account="{login}"}}' in named.text
    # and: the refusals are counted as /metrics' own
    failures = ("tidings_auth_failures_total", (("surface", "metrics"),))
    assert scrape(server)[failures] >= 2
