"""Closing an account from the library, the JSON API (`POST /api/accounts/{login}/close`)
and the shell (`tidings account close`): its clients are refused as if it did not exist,
its settings no longer change, and its queue and trail stay for audit."""

import re

import pytest
from tidings.adapters import Rejected, Tidings
from tidings.adapters.usecases.runtime import RemoteClient
from tidings.domain import Code

from tests.cli.shell import json_of, one_line_error, shell
from tests.cli.test_queue import queued
from tests.http.conftest import serve, settings_for


def test_a_closed_account_keeps_its_queue_and_refuses_its_clients(db_url: str) -> None:
    # Given an account with two notifications waiting in its poll queue
    queued(db_url, 2)
    # When the shell closes it
    shown = json_of(shell("account", "close", "tester", "--reason", "left", "--db", db_url,
                          "--json"))  # fmt: skip
    assert (shown["closed"], shown["closed_reason"]) == (True, "left")
    with Tidings(db_url) as t:
        # Then its queue is kept for audit, and its clients are refused
        assert [n.id for n in t.mailbox("tester").notifications] == [1, 2]
        with pytest.raises(Rejected) as backend:
            t.poll("tester")
        assert backend.value.code == Code.OBJECT_NOT_FOUND
        with pytest.raises(Rejected) as client:
            t.poll("tester", client=RemoteClient(proof=lambda _: True, ip="127.0.0.1"))
        assert client.value.code == Code.AUTH_FAILED
        with pytest.raises(Rejected) as accept:
            t.accept("tester", "c-late", "domain-renew")
        assert accept.value.code == Code.OBJECT_NOT_FOUND
        # And its login is not opened again, nor its settings changed
        with pytest.raises(Rejected) as again:
            t.open_account("tester", "other")
        assert again.value.code == Code.OBJECT_EXISTS
        with pytest.raises(Rejected) as changed:
            t.change_password("tester", "another-password")
        assert changed.value.code == Code.STATUS_PROHIBITS
        assert [e.event.reason for e in t.log(1, topics=("AccountClosed",))] == ["left"]
    trail = shell("trail", "--notification", "tester:1", "--db", db_url)
    assert trail.exit_code == 0 and "queued" in trail.stdout
    again = shell("account", "close", "tester", "--db", db_url, "--json")
    one_line_error(again, 1, "2304 account is already closed")  # nothing to do
    one_line_error(shell("account", "close", "nobody", "--db", db_url), 1, "2303")
    listed = shell("account", "list", "--db", db_url)
    assert listed.exit_code == 0 and "closed" in listed.stdout


def test_the_api_closes_an_account(db_url: str) -> None:
    queued(db_url, 1)
    with serve(settings_for(db_url)) as server:
        closed = server.admin("POST", "/api/accounts/tester/close", json={"reason": "left"})
        assert closed.status_code == 200
        assert (closed.json()["closed"], closed.json()["closed_reason"]) == (True, "left")
        refused = server.admin("PUT", "/api/accounts/tester/password", json={"password": "x" * 12})
        assert refused.status_code != 200 and refused.json()["code"] == 2304
        assert server.admin("POST", "/api/accounts/nobody/close", json={}).status_code == 404


def test_a_closed_account_without_a_reason_reads_closed_yes(sqlite_url: str) -> None:
    # Given an account closed without a reason, and one closed with one
    queued(sqlite_url, 0)
    shown = shell("account", "close", "tester", "--db", sqlite_url)
    # Then its table says "yes", not "yes:" with nothing after it
    assert re.search(r"closed\s*│ yes\s*│", shown.stdout), shown.stdout
    with Tidings(sqlite_url) as t:
        t.open_account("other", "123456")
    said = shell("account", "close", "other", "--reason", "left", "--db", sqlite_url)
    assert re.search(r"closed\s*│ yes: left\s*│", said.stdout), said.stdout
