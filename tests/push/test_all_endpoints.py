"""Endpoints across all accounts, paused ones first among an operator's questions: in the
library, the JSON API (`GET /api/endpoints`, `/api/endpoints/paused`), the shell
(`tidings endpoint list [--paused]`) and /metrics (`tidings_endpoints_paused`)."""

from prometheus_client.parser import text_string_to_metric_families
from tidings.domain import RetryPolicy, UrlChannel

from tests.cli.shell import json_of, shell
from tests.http.conftest import Running, serve, settings_for, wait_until
from tests.push.conftest import Receiver

FAST = RetryPolicy(schedule=(0.05, 0.05, 0.05), jitter=0.0)


def test_every_accounts_endpoints_and_the_paused_ones(db_url: str, receiver: Receiver) -> None:
    with serve(settings_for(db_url)) as server:
        t = server.tidings
        # Given one account whose endpoint is down (paused after one failure), one healthy
        down = UrlChannel(success_url=receiver.url("/down/1000"), pause_after=1)
        t.open_account("broken", "123456", channel=down, retry_policy=FAST)
        fine = UrlChannel(success_url=receiver.url("/ok"))
        t.open_account("fine", "123456", channel=fine, retry_policy=FAST)
        t.open_account("poller", "123456")
        t.end(t.accept("broken", "c", "ping-async").svtrid, 1000, "OK")
        wait_until(lambda: t.all_endpoints(paused_only=True), what="the pause")
        # Then the library, the API and the shell list both, and the paused one alone
        every = [(v.login, v.target, v.paused) for v in t.all_endpoints()]
        assert every == [("broken", receiver.url("/down/1000"), True),
                         ("fine", receiver.url("/ok"), False)]  # fmt: skip
        api = server.admin("GET", "/api/endpoints")
        assert api.status_code == 200
        listed_by_api = [(v["login"], v["paused"]) for v in api.json()]
        assert listed_by_api == [("broken", True), ("fine", False)]
        paused = server.admin("GET", "/api/endpoints/paused").json()
        assert [v["login"] for v in paused] == ["broken"]
        listed = json_of(shell("endpoint", "list", "--db", db_url, "--json"))
        assert [(v["login"], v["paused"]) for v in listed] == [("broken", True), ("fine", False)]
        only = json_of(shell("endpoint", "list", "--paused", "--db", db_url, "--json"))
        assert [v["login"] for v in only] == ["broken"]
        one = json_of(shell("endpoint", "list", "fine", "--paused", "--db", db_url, "--json"))
        assert one == []
        table = shell("endpoint", "list", "--db", db_url).stdout
        assert "broken" in table and "paused" in table and "healthy" in table
        # and the metric counts it, until it is resumed
        assert _paused_metric(server) == 1
        assert t.resume_endpoint("broken") == [receiver.url("/down/1000")]
        assert _paused_metric(server) == 0


def _paused_metric(server: Running) -> float:
    text = server.admin("GET", "/metrics").text
    [sample] = [
        s for f in text_string_to_metric_families(text) for s in f.samples
        if s.name == "tidings_endpoints_paused"
    ]  # fmt: skip
    return sample.value
