"""Operator commands from the JSON API and the shell: a bulk ack of an abandoned poll
queue up to an id (`POST /api/accounts/{login}/queue/ack`, `tidings ack LOGIN ID --up-to
--operator NAME`, the library's one `bulk_ack`, recorded as that operator's), and a test
notification (`POST /api/accounts/{login}/test`, `tidings account test LOGIN`)."""

from pathlib import Path

import pytest
from tidings.adapters import Tidings

from tests.cli.shell import json_of, one_line_error, shell
from tests.cli.test_queue import queued
from tests.http.conftest import serve, settings_for


def test_the_api_and_the_shell(db_url: str) -> None:
    queued(db_url, 4)
    assert shell("operator", "add", "alice", "--db", db_url).exit_code == 0
    with serve(settings_for(db_url)) as server:
        body = {"up_to": 2, "operator": "alice"}
        answer = server.admin("POST", "/api/accounts/tester/queue/ack", json=body)
        assert (answer.status_code, answer.json()) == (200, {"acked": [1, 2]})
        nobody = server.admin("POST", "/api/accounts/tester/queue/ack",
                              json={"up_to": 9, "operator": "mallory"})  # fmt: skip
        assert nobody.status_code == 404  # no such operator: nothing acked
    shown = json_of(shell("ack", "tester", "3", "--up-to", "--operator", "alice", "--db", db_url,
                          "--json"))  # fmt: skip
    assert shown == {"login": "tester", "acked": [3]}
    people = shell("ack", "tester", "9", "--up-to", "--operator", "alice", "--db", db_url)
    assert people.stdout.strip() == "acked 1: 4-4"
    one_line_error(shell("ack", "tester", "x", "--up-to", "--operator", "alice", "--db", db_url),
                   2, "--up-to")  # fmt: skip
    one_line_error(shell("ack", "tester", "9", "--up-to", "--db", db_url), 2, "--operator")
    one_line_error(shell("ack", "tester", "9", "--up-to", "--operator", "alice", "--db", db_url),
                   1, "2303")  # fmt: skip
    with Tidings(db_url) as t:
        assert not t.mailbox("tester").notifications
        actions = [e.event for e in t.log(1, topics=("OperatorActed",))]
    assert [(a.name, a.action, a.login) for a in actions] == [("alice", "bulk-ack", "tester")] * 3


@pytest.mark.parametrize("wrong", ["Bad Name", "", "admin"])
def test_ack_up_to_checks_the_operators_name_before_it_opens_the_database(
    db_url: str, wrong: str
) -> None:
    # as every other acting command: exit 2 naming --operator, the queue left as it was
    queued(db_url, 2)
    ack = ("ack", "tester", "2", "--up-to", "--operator", wrong)
    one_line_error(shell(*ack, "--db", db_url), 2, "--operator", "operator")
    # nothing is opened: a database no one could reach is not what is said
    nowhere = "postgresql://postgres@127.0.0.1:1/nowhere"
    one_line_error(shell(*ack, "--db", nowhere), 2, "--operator", "operator")
    with Tidings(db_url) as t:
        assert [n.id for n in t.mailbox("tester").notifications] == [1, 2]
        assert not list(t.log(1, topics=("OperatorActed",)))


def test_a_test_notification_from_the_api_and_the_shell(db_url: str) -> None:
    queued(db_url, 0)
    with serve(settings_for(db_url)) as server:
        sent = server.admin("POST", "/api/accounts/tester/test")
        assert sent.status_code == 200 and sent.json()["id"] == 1
        assert server.admin("POST", "/api/accounts/nobody/test").status_code == 404
    shown = json_of(shell("account", "test", "tester", "--db", db_url, "--json"))
    assert shown["id"] == 2 and shown["outcome"]["code"] == 1000
    one_line_error(shell("account", "test", "nobody", "--db", db_url), 1, "2303")
    with Tidings(db_url) as t:
        assert [n.id for n in t.mailbox("tester").notifications] == [1, 2]


def test_a_bulk_ack_is_recorded_as_the_tokens_operator_and_names_no_other(db_url: str) -> None:
    queued(db_url, 4)
    with Tidings(db_url) as t:
        t.add_operator("alice")
        bob = t.add_operator("bob")
    with serve(settings_for(db_url)) as server:
        as_bob = {"authorization": f"Bearer {bob}"}
        # a named operator's token may not put the ack in another operator's name
        forged = server.client.post("/api/accounts/tester/queue/ack", headers=as_bob,
                                    json={"up_to": 1, "operator": "alice"})  # fmt: skip
        assert (forged.status_code, forged.json()["code"]) == (422, 2101), forged.text
        # left out, the operator is the token's: bob's, and the admin token's `admin`
        own = server.client.post("/api/accounts/tester/queue/ack", headers=as_bob,
                                 json={"up_to": 1})  # fmt: skip
        assert (own.status_code, own.json()) == (200, {"acked": [1]})
        named = server.client.post("/api/accounts/tester/queue/ack", headers=as_bob,
                                   json={"up_to": 2, "operator": "bob"})  # fmt: skip
        assert (named.status_code, named.json()) == (200, {"acked": [2]})
        admin = server.admin("POST", "/api/accounts/tester/queue/ack", json={"up_to": 3})
        assert (admin.status_code, admin.json()) == (200, {"acked": [3]})
    with Tidings(db_url) as t:
        actions = [e.event for e in t.log(1, topics=("OperatorActed",))]
        assert [n.id for n in t.mailbox("tester").notifications] == [4]
    assert [(a.name, a.detail) for a in actions] == [
        ("bob", "acked 1"),
        ("bob", "acked 2"),
        ("admin", "acked 3"),
    ]


def test_the_shells_changes_name_the_operator_given_and_a_stranger_changes_nothing(
    db_url: str,
) -> None:
    assert shell("operator", "add", "alice", "--db", db_url).exit_code == 0
    as_alice = ("--operator", "alice", "--db", db_url)
    opened = shell("account", "add", "tester", "--password-stdin", *as_alice, input="s3cret\n")
    assert opened.exit_code == 0, opened.output
    changes = [
        ("account", "set", "tester", "--retry-schedule", "5,60"),
        ("account", "password", "tester", "--password-stdin"),
        ("account", "test", "tester"),
        ("account", "rotate-secret", "tester"),
        ("account", "suspend", "tester", "--reason", "unpaid"),
        ("account", "resume", "tester"),
        ("account", "close", "tester", "--reason", "contract ended"),
    ]
    for change in changes:
        ran = shell(*change, *as_alice, input="n3w-s3cret\n")
        assert ran.exit_code == 0, (change, ran.output)
    with Tidings(db_url) as t:
        t.open_account("other", "s3cret")
    stranger = ("--operator", "mallory", "--db", db_url)
    for wrong in ("Bad Name", "", "admin"):
        ran = shell("account", "suspend", "other", "--operator", wrong, "--db", db_url)
        one_line_error(ran, 2, "--operator", "operator")
    one_line_error(shell("account", "suspend", "other", *stranger), 1, "2303", "operator")
    with Tidings(db_url) as t:
        actions = [e.event for e in t.log(1, topics=("OperatorActed",))]
        other = t.account("other")
    assert [(a.name, a.action, a.login) for a in actions] == [
        ("alice", action, "tester")
        for action in ("open", "set", "password", "test", "rotate-secret", "suspend", "resume",
                       "close")
    ]  # fmt: skip
    assert [a.detail for a in actions if a.action in ("suspend", "close")] == [
        "unpaid",
        "contract ended",
    ]
    assert other is not None and not other.suspended


def test_an_account_added_as_an_operator_creates_no_database(tmp_path: Path) -> None:
    new = str(tmp_path / "new.db")
    ran = shell("account", "add", "tester", "--password-stdin", "--operator", "alice", "--db",
                new, input="s3cret\n")  # fmt: skip
    one_line_error(ran, 2, "no such database file")
    assert not Path(new).exists()
