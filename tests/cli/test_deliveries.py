"""`tidings deliveries`, `redeliver` and `endpoint ...` against a server that pushes to a
real receiver on 127.0.0.1 (a delivery that gives up, then succeeds when requeued)."""

from tidings.adapters import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.cli.shell import json_of, one_line_error, shell
from tests.http.conftest import serve, settings_for, wait_until
from tests.push.conftest import Receiver, receiver

__all__ = ["receiver"]  # the fixture, used by name below


def given_up(t: Tidings, receiver: Receiver, login: str = "shop") -> int:
    """An account pushing to a receiver that fails twice; its first notification, which
    gave up after those two attempts."""
    channel = UrlChannel(success_url=receiver.url("/flaky/2"), pause_after=100)
    t.open_account(login, "s3cret", channel=channel, retry_policy=RetryPolicy(schedule=(0.05,)))
    n = t.end(t.accept(login, "c", "ping-async").svtrid, 1000, "OK").id
    wait_until(lambda: t.delivery(login, n).status == "gave_up", what="giving up")
    return n


def test_list_redeliver_and_resume(db_url: str, receiver: Receiver) -> None:
    with serve(settings_for(db_url)) as server:
        t = server.tidings
        n = given_up(t, receiver)
        [listed] = json_of(shell("deliveries", "--given-up", "--db", db_url, "--json"))
        assert (listed["login"], listed["notification_id"]) == ("shop", n)
        assert (listed["status"], listed["attempts"]) == ("gave_up", 2)
        table = shell("deliveries", "--account", "shop", "--db", db_url)
        assert table.exit_code == 0 and "gave_up" in table.stdout and "500" in table.stdout

        requeued = json_of(shell("redeliver", "shop", "--db", db_url, "--json"))
        assert requeued == {"login": "shop", "requeued": [n]}
        wait_until(lambda: t.delivery("shop", n).status == "succeeded", what="the redelivery")
        assert json_of(shell("deliveries", "--given-up", "--db", db_url, "--json")) == []
        one_line_error(shell("redeliver", "shop", str(n), "--db", db_url), 1, "2304")
        trail = shell("trail", "--notification", f"shop:{n}", "--db", db_url).stdout
        assert "requeued for redelivery" in trail and "delivered: status 200" in trail

        [health] = json_of(shell("endpoint", "list", "shop", "--db", db_url, "--json"))
        assert (health["target"], health["paused"]) == (receiver.url("/flaky/2"), False)
        resumed = shell("endpoint", "resume", "shop", "--db", db_url)
        one_line_error(resumed, 1, "2304 no push endpoint of the account is paused")
        again = shell("redeliver", "shop", "--db", db_url)
        one_line_error(again, 1, "2304 no delivery of the account to send again")


def test_a_delivered_notification_is_resent_by_the_shell_and_the_api(
    db_url: str, receiver: Receiver
) -> None:
    # Given a notification delivered to a real receiver on 127.0.0.1
    with serve(settings_for(db_url)) as server:
        t = server.tidings
        t.open_account("shop", "s3cret", channel=UrlChannel(success_url=receiver.url("/ok")))
        n = t.end(t.accept("shop", "c", "ping-async").svtrid, 1000, "OK").id
        wait_until(lambda: len(receiver.to("/ok")) == 1, what="the delivery")
        wait_until(lambda: t.delivery("shop", n).status == "succeeded", what="its success")
        # When the shell resends it, without --delivered it is refused (nothing changes)
        one_line_error(shell("redeliver", "shop", str(n), "--db", db_url), 1, "2304")
        resent = json_of(
            shell("redeliver", "shop", str(n), "--delivered", "--db", db_url, "--json")
        )
        # Then it is pushed again, and the trail records the resend
        assert resent == {"login": "shop", "requeued": [n]}
        wait_until(lambda: len(receiver.to("/ok")) == 2, what="the resend")
        wait_until(lambda: t.delivery("shop", n).status == "succeeded", what="its success")
        trail = shell("trail", "--notification", f"shop:{n}", "--db", db_url).stdout
        assert "delivered (attempt 1), and sent again" in trail
        # And the JSON API resends it the same way
        answer = server.admin(
            "POST", "/api/accounts/shop/redeliver", json={"notification_id": n, "delivered": True}
        )
        assert (answer.status_code, answer.json()) == (200, {"requeued": [n]})
        wait_until(lambda: len(receiver.to("/ok")) == 3, what="the API's resend")
        first, *_, last = receiver.to("/ok")
        assert first.body == last.body


def test_user_errors(sqlite_url: str) -> None:
    with Tidings(sqlite_url) as t:
        t.open_account("shop", "s3cret")
    for args in (("deliveries", "--account", "nobody"), ("redeliver", "nobody"),
                 ("endpoint", "list", "nobody"), ("endpoint", "resume", "nobody")):  # fmt: skip
        one_line_error(shell(*args, "--db", sqlite_url), 1, "2303")
    one_line_error(shell("redeliver", "shop", "--since", "soon", "--db", sqlite_url), 2, "ISO")
    one_line_error(shell("redeliver", "shop", "7", "--db", sqlite_url), 1, "2303")


def test_a_resume_and_a_redelivery_are_recorded_as_the_operator_named(
    db_url: str, receiver: Receiver
) -> None:
    with serve(settings_for(db_url)) as server:
        t = server.tidings
        t.add_operator("alice")
        # Given an endpoint paused after its first failure, its notification given up
        down = UrlChannel(success_url=receiver.url("/down/1000"), pause_after=1)
        t.open_account("shop", "s3cret", channel=down, retry_policy=RetryPolicy(schedule=()))
        n = t.end(t.accept("shop", "c", "ping-async").svtrid, 1000, "OK").id
        wait_until(lambda: t.delivery("shop", n).status == "gave_up", what="giving up")
        wait_until(lambda: t.all_endpoints(paused_only=True), what="the pause")
        # When an operator not added tries, nothing changes
        for refused in (("endpoint", "resume", "shop"), ("redeliver", "shop", str(n))):
            ran = shell(*refused, "--operator", "mallory", "--db", db_url)
            one_line_error(ran, 1, "2303", "operator")
        assert t.all_endpoints(paused_only=True) and t.delivery("shop", n).status == "gave_up"
        # When alice resumes the endpoint and sends the notification again
        resumed = shell("endpoint", "resume", "shop", "--operator", "alice", "--db", db_url)
        assert resumed.exit_code == 0, resumed.output
        again = shell("redeliver", "shop", str(n), "--operator", "alice", "--db", db_url)
        assert again.exit_code == 0, again.output
        # Then the log names her for both, with the account they concerned
        actions = [e.event for e in t.log(1, topics=("OperatorActed",))]
        assert [(a.name, a.action, a.login) for a in actions] == [
            ("alice", "resume-endpoint", "shop"),
            ("alice", "redeliver", "shop"),
        ]
