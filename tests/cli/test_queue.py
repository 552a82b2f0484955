"""`tidings queue`, `poll` and `ack`: the poll queue as its client sees and works it."""

import json

import pytest
from tidings.adapters.library import Tidings
from tidings.domain import EmailChannel

from tests.cli.shell import json_of, one_line_error, shell


def queued(db: str, count: int) -> list[str]:
    """An account `tester` with `count` ended operations queued; their svTRIDs."""
    with Tidings(db) as tidings:
        tidings.open_account("tester", "s3cret")
        svtrids = []
        for n in range(count):
            pending = tidings.accept("tester", f"c-{n}", "domain-renew")
            tidings.end(pending.svtrid, 1000, "OK")
            svtrids.append(pending.svtrid)
    return svtrids


def test_queue_shows_count_oldest_and_the_first(db_url: str) -> None:
    svtrids = queued(db_url, 3)
    view = json_of(shell("queue", "tester", "--first", "2", "--db", db_url, "--json"))
    assert view["count"] == 3
    assert [n["outcome"]["svtrid"] for n in view["notifications"]] == svtrids[:2]
    assert view["oldest_at"] == view["notifications"][0]["outcome"]["timestamp"]
    table = shell("queue", "tester", "--db", db_url)
    assert table.exit_code == 0 and "3 queued" in table.stdout and "c-2" in table.stdout
    # Looking changed nothing: no notification counts as retrieved.
    with Tidings(db_url) as tidings:
        assert all(n.retrieved_at is None for n in tidings.mailbox("tester").notifications)


def test_poll_then_ack_as_the_client_would(db_url: str) -> None:
    svtrids = queued(db_url, 2)
    polled = json_of(shell("poll", "tester", "--db", db_url, "--json"))
    assert (polled["code"], polled["count"]) == (1000, 2)
    assert polled["notification"]["outcome"]["svtrid"] == svtrids[0]
    ident = str(polled["notification"]["id"])
    not_head = shell("ack", "tester", "2", "--db", db_url, "--json")
    assert not_head.exit_code == 1 and json.loads(not_head.stdout)["code"] == 2151
    assert json_of(shell("ack", "tester", ident, "--db", db_url, "--json"))["code"] == 1002
    assert shell("ack", "tester", ident, "--db", db_url).stdout.startswith("1002")
    assert "1000 OK" in shell("poll", "tester", "--db", db_url).stdout
    shell("ack", "tester", "2", "--db", db_url)
    assert shell("poll", "tester", "--db", db_url).stdout.startswith("1003")


def test_a_push_account_cannot_be_polled(sqlite_url: str) -> None:
    with Tidings(sqlite_url) as tidings:
        tidings.open_account("tester", "s3cret", channel=EmailChannel("ops@shop.example"))
    result = shell("poll", "tester", "--db", sqlite_url)
    assert result.exit_code == 1 and result.stdout.startswith("2150")


@pytest.mark.parametrize("args", [("queue", "nobody"), ("poll", "nobody"), ("ack", "nobody", "1")])
def test_an_unknown_account(args: tuple[str, ...], sqlite_url: str) -> None:
    queued(sqlite_url, 0)
    result = shell(*args, "--db", sqlite_url)
    one_line_error(result, 1)
    assert "nobody" in result.stderr or "2303" in result.stderr
