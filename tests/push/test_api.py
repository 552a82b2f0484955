"""Push delivery through the JSON API of a running server (its worker in process)."""

from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import serve, settings_for, wait_until
from tests.push.conftest import Receiver


def test_given_up_deliveries_are_listed_and_requeued_with_one_call(
    db_url: str, receiver: Receiver
) -> None:
    with serve(settings_for(db_url)) as server:
        t = server.tidings
        channel = UrlChannel(success_url=receiver.url("/flaky/2"), pause_after=100)
        t.open_account("api", "123456", channel=channel, retry_policy=RetryPolicy(schedule=(0.05,)))
        n = t.end(t.accept("api", "c", "ping-async").svtrid, 1000, "OK").id
        wait_until(lambda: t.delivery("api", n).status == "gave_up", what="giving up")

        listed = server.admin("GET", "/api/accounts/api/deliveries/gave-up")
        assert listed.status_code == 200
        [view] = listed.json()
        assert (view["notification_id"], view["status"], view["attempts"]) == (n, "gave_up", 2)
        assert "secret" not in listed.text

        requeued = server.admin("POST", "/api/accounts/api/redeliver", json={})
        assert (requeued.status_code, requeued.json()) == (200, {"requeued": [n]})
        wait_until(lambda: t.delivery("api", n).status == "succeeded", what="the redelivery")
        assert server.admin("GET", "/api/accounts/api/deliveries/gave-up").json() == []

        again = server.admin("POST", "/api/accounts/api/redeliver", json={"notification_id": n})
        assert (again.status_code, again.json()["code"]) == (409, 2304)

        health = server.admin("GET", "/api/accounts/api/endpoints").json()
        assert health == [
            {
                "login": "api",
                "target": receiver.url("/flaky/2"),
                "paused": False,
                "consecutive_failures": 0,
                "paused_at": None,
                "next_probe_at": None,
            }
        ]
        resumed = server.admin("POST", "/api/accounts/api/endpoints/resume", json={})
        assert (resumed.status_code, resumed.json()) == (
            409,
            {"code": 2304, "text": "no push endpoint of the account is paused"},
        )
