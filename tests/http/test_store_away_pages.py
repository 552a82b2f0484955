"""Merchants jobs and the pages answer a store that cannot write as the JSON API does: a
SQLite file whose write lock another program holds past the busy timeout gets 503 with
the failure's code (the pages: the error page), not a server error, and nothing is
saved; once the lock is let go, the same requests succeed."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tidings.adapters import Tidings

from tests.http.conftest import Running, log_length, serve, settings_for
from tests.http.test_api import call
from tests.web.client import WebClient, csrf_of


@contextmanager
def _locked(db: Path) -> Iterator[None]:
    """Another program holds the database's write lock for the block."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Running, Path, str]]:
    db = tmp_path / "tidings.db"
    with Tidings(str(db)) as tidings:
        tidings.open_account("tester", "123456")
        token = tidings.add_operator("alice")
    with serve(settings_for(str(db))) as server:
        yield server, db, token


def _job(server: Running) -> httpx.Response:
    headers = {"content-type": "application/json", "x-ApplicationId": "tester",
               "x-Token": "123456"}  # fmt: skip
    return server.client.post("/merchants/products", content=b'{"Sku": "1"}', headers=headers)


def test_a_store_that_cannot_write_is_503_on_merchants_the_api_and_the_pages(
    running: tuple[Running, Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, db, token = running
    web = WebClient(server.client)
    assert web.sign_in_console(token).status_code == 303
    shown = web.get("/console/accounts/tester")
    signing_in = WebClient(server.client)  # another browser: cookies of its own
    sign_in_page = signing_in.get("/center/sign-in")
    before = log_length(server)
    operation = {"login": "tester", "cltrid": "c1", "command": "domain-renew"}
    requests = {
        "job": lambda: _job(server),
        "api": lambda: call(server, "POST", "/api/operations", json=operation),
        "action": lambda: web.post("/console/accounts/tester/suspend", {"reason": "x"},
                                   csrf=csrf_of(shown.text)),
        "sign-in": lambda: signing_in.post("/center/sign-in",
                                           {"login": "tester", "password": "123456"},
                                           csrf=csrf_of(sign_in_page.text)),
    }  # fmt: skip
    with _locked(db):  # one after another: each waits out the busy timeout
        answers = {name: send() for name, send in requests.items()}
    assert answers["job"].status_code == 503, answers["job"].text
    assert answers["job"].json()["Code"] == 2400
    assert (answers["api"].status_code, answers["api"].json()["code"]) == (503, 2400)
    for page in ("action", "sign-in"):
        assert answers[page].status_code == 503, answers[page].text
        assert "The database cannot answer now" in answers[page].text
        assert answers[page].headers["x-frame-options"] == "DENY"
    assert log_length(server) == before
    assert not [r for r in caplog.records if r.exc_info], "a request failed with a traceback"
    # and once the lock is let go, the same requests succeed
    assert _job(server).status_code == 202
    action = web.post("/console/accounts/tester/suspend", {"reason": "x"},
                      csrf=csrf_of(shown.text))  # fmt: skip
    assert action.status_code == 303
