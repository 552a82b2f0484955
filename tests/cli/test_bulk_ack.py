"""An operator acks an abandoned poll queue up to an id, from the library, the JSON API
(`POST /api/accounts/{login}/queue/ack`) and the shell (`tidings ack LOGIN ID --up-to`);
each ack is recorded as the operator's."""

import pytest
from tidings.adapters import InvalidArgument, Rejected, Tidings

from tests.cli.shell import json_of, one_line_error, shell
from tests.cli.test_queue import queued
from tests.http.conftest import serve, settings_for


def _acks(tidings: Tidings) -> list[tuple[int, str]]:
    return [(e.event.id, e.event.by) for e in tidings.log(1, topics=("NotificationAcked",))]


def test_the_library_acks_up_to_the_id_and_records_the_operator(db_url: str) -> None:
    # Given a queue of five, the client acked the first itself, and the account suspended
    queued(db_url, 5)
    with Tidings(db_url) as t:
        assert t.ack("tester", 1).code.is_success
        t.suspend("tester", "client gone")
        # When the operator acks up to 4
        assert t.ack_up_to("tester", 4) == [2, 3, 4]
        # Then 5 is left, and the log says who acked what
        assert [n.id for n in t.mailbox("tester").notifications] == [5]
        assert _acks(t) == [(1, ""), (2, "operator"), (3, "operator"), (4, "operator")]
        assert t.ack_up_to("tester", 4) == []  # again: nothing that old is left
        with pytest.raises(Rejected) as unknown:
            t.ack_up_to("nobody", 4)
        assert int(unknown.value.code) == 2303
        with pytest.raises(InvalidArgument):
            t.ack_up_to("tester", 0)


def test_a_long_queue_goes_in_bounded_transactions(sqlite_url: str) -> None:
    queued(sqlite_url, 1205)
    with Tidings(sqlite_url) as t:
        assert t.ack_up_to("tester", 1204) == list(range(1, 1205))
        assert [n.id for n in t.mailbox("tester").notifications] == [1205]


def test_the_api_and_the_shell(db_url: str) -> None:
    queued(db_url, 4)
    with serve(settings_for(db_url)) as server:
        answer = server.admin("POST", "/api/accounts/tester/queue/ack", json={"up_to": 2})
        assert (answer.status_code, answer.json()) == (200, {"acked": [1, 2]})
        refused = server.admin("POST", "/api/accounts/nobody/queue/ack", json={"up_to": 2})
        assert refused.status_code == 404
    shown = json_of(shell("ack", "tester", "3", "--up-to", "--db", db_url, "--json"))
    assert shown == {"login": "tester", "acked": [3]}
    assert shell("ack", "tester", "9", "--up-to", "--db", db_url).stdout.strip() == "acked 1: 4-4"
    one_line_error(shell("ack", "tester", "x", "--up-to", "--db", db_url), 2, "--up-to")
    log = shell("log", "--db", db_url).stdout
    assert "acked by the operator" in " ".join(log.split())
