"""The operator console through HTTP: named operators, their actions recorded in the
log and shown in the trail, revocation, bulk-ack, the health page, /docs."""

import itertools
import re
from pathlib import Path

import pytest
from tidings.adapters import UrlChannel
from tidings.adapters.http.limits import Limits

from tests.http.conftest import Running, log_length, serve, settings_for
from tests.web.client import WebClient

_names = itertools.count(1)


def operator(web: WebClient, server: Running) -> str:
    name = f"op{next(_names)}"
    token = server.tidings.add_operator(name)
    assert token.startswith(f"{name}.")
    answer = web.sign_in_console(token)
    assert answer.status_code == 303, answer.text
    return name


def test_an_operator_signs_in_with_its_token_and_lists_accounts(
    web: WebClient, server: Running
) -> None:
    operator(web, server)
    found = web.get(f"/console/accounts?q={server.login}")
    assert found.status_code == 200 and f"/console/accounts/{server.login}" in found.text
    assert WebClient(web.http).sign_in_console("op9999.wrong").status_code == 401


def test_an_action_is_recorded_with_the_operators_name_and_shown_in_the_trail(
    web: WebClient, server: Running
) -> None:
    name = operator(web, server)
    t = server.tidings
    svtrid = t.accept(server.login, "cl-1", "domain-renew").svtrid
    t.end(svtrid, 1000, "done")
    base = f"/console/accounts/{server.login}"
    assert web.submit(base, base + "/suspend", {"reason": "abuse"}).status_code == 303
    account = t.account(server.login)
    assert account is not None and account.suspended
    assert web.submit(base, base + "/resume", {}).status_code == 303
    acted = t.operator_actions(server.login)
    assert [(e.event.name, e.event.action) for e in acted] == [(name, "suspend"), (name, "resume")]
    trail = web.get(f"/console/trail?key={svtrid}")
    assert "domain-renew accepted" in trail.text and "ended 1000 done" in trail.text
    assert f"operator {name}: suspend" in trail.text
    by_id = web.get(f"/console/trail?key={server.login}:1")
    assert "notification 1 queued" in by_id.text and f"operator {name}: resume" in by_id.text
    assert "cl-1" in web.get("/console/trail?key=cl-1").text


def test_bulk_ack_empties_an_abandoned_queue_as_an_operator_action(
    web: WebClient, server: Running
) -> None:
    name = operator(web, server)
    t = server.tidings
    for n in range(3):
        t.end(t.accept(server.login, f"c{n}", "x").svtrid, 1000, "ok")
    base = f"/console/accounts/{server.login}"
    assert web.submit(base, base + "/bulk-ack", {"up_to": "2"}).status_code == 303
    assert [n.id for n in t.mailbox(server.login).notifications] == [3]
    acted = t.operator_actions(server.login)
    assert (acted[-1].event.name, acted[-1].event.action) == (name, "bulk-ack")
    nothing = web.submit(base, base + "/bulk-ack", {"up_to": "2"})
    assert nothing.status_code == 404 and "no notification queued" in nothing.text


def test_a_revoked_operator_is_refused_at_its_next_request(web: WebClient, server: Running) -> None:
    name = operator(web, server)
    assert web.get("/console/accounts").status_code == 200
    server.tidings.revoke_operator(name)
    assert web.get("/console/accounts").headers["location"] == "/console/sign-in"
    assert web.get("/console/accounts").status_code == 303


def test_an_account_holder_cannot_use_the_console(web: WebClient, server: Running) -> None:
    web.sign_in_center(server.login, server.password)
    assert web.get("/console/accounts").status_code == 303


def test_the_health_page_draws_charts_and_verifies(web: WebClient, server: Running) -> None:
    operator(web, server)
    page = web.get("/console/health")
    assert page.status_code == 200 and page.text.count("<svg") == 3
    verified = web.submit("/console/health", "/console/health/verify", {})
    assert verified.status_code == 303
    assert re.search(r"Chain intact: \d+ entries", web.get("/console/health").text)


def test_docs_render_the_openapi_document(web: WebClient, server: Running) -> None:
    docs = web.get("/docs")
    assert docs.status_code == 200 and "<script" not in docs.text
    assert "GET</span> /api/accounts/{login}/queue" in docs.text
    assert 'id="schema-AccountView"' in docs.text
    assert docs.headers["x-frame-options"] == "DENY"


def test_sign_in_is_throttled_like_wapi(tmp_path: Path) -> None:
    limits = Limits(auth_failures_per_address=3, auth_failures_per_login=3, auth_floor=0.0)
    with serve(settings_for(str(tmp_path / "t.db"), limits=limits)) as running:
        running.tidings.open_account("tester", "123456")
        web = WebClient(running.client)
        for _ in range(3):
            assert web.sign_in_center("tester", "wrong").status_code == 401
        refused = web.sign_in_center("tester", "123456")
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text


def test_a_sign_in_that_succeeds_counts_as_no_failure(tmp_path: Path) -> None:
    limits = Limits(auth_failures_per_address=3, auth_failures_per_login=3, auth_floor=0.0)
    with serve(settings_for(str(tmp_path / "t.db"), limits=limits)) as running:
        running.tidings.open_account("tester", "123456")
        token = running.tidings.add_operator("alice")
        # Given more successful sign-ins, on both surfaces, than failures are allowed
        for _ in range(4):
            assert WebClient(running.client).sign_in_center("tester", "123456").status_code == 303
            assert WebClient(running.client).sign_in_console(token).status_code == 303
        # Then two failures are still short of the limit: the next right answer gets in
        web = WebClient(running.client)
        for _ in range(2):
            assert web.sign_in_center("tester", "wrong").status_code == 401
        assert web.sign_in_center("tester", "123456").status_code == 303


def test_accounts_come_a_page_at_a_time(web: WebClient, server: Running) -> None:
    operator(web, server)
    for n in range(51):
        server.tidings.open_account(f"{server.login}-many{n}", "123456")
    first = web.get("/console/accounts")
    rows = re.findall(r'<td><a href="/console/accounts/([^"]+)">', first.text)
    after = re.search(r'accounts\?q=&amp;after=(\d+)">Next page', first.text)
    assert len(rows) == 50 and after is not None
    second = web.get(f"/console/accounts?after={after[1]}")
    more = re.findall(r'<td><a href="/console/accounts/([^"]+)">', second.text)
    assert more and not set(more) & set(rows)
    found = web.get(f"/console/accounts?q={server.login}-many5")
    assert "-many5<" in found.text and "-many50<" in found.text and "-many4<" not in found.text


def test_an_action_with_nothing_to_do_is_refused_and_not_recorded(
    web: WebClient, server: Running
) -> None:
    operator(web, server)
    base = f"/console/accounts/{server.login}"
    since = {"since": "2026-01-01T00:00", "delivered": "yes"}
    nothing = [
        ("/redeliver", since, "no delivery of the account to send again"),
        ("/resume-endpoint", {}, "no push endpoint of the account is paused"),
        ("/resume", {}, "account is not suspended"),
    ]
    for action, form, text in nothing:
        answer = web.submit(base, base + action, form)
        assert answer.status_code == 409 and text in answer.text
    bad = web.submit(base, base + "/redeliver", {"since": "yesterday"})
    assert bad.status_code == 422 and "not a time" in bad.text
    assert server.tidings.operator_actions(server.login) == []
    assert web.submit(base, base + "/explode", {}).status_code == 422


@pytest.mark.parametrize(
    ("action", "form"),
    [("suspend", {"reason": "x"}), ("resume", {}), ("resume-endpoint", {"target": "x"}),
     ("redeliver", {"notification_id": "1"}), ("bulk-ack", {"up_to": "3"}), ("explode", {})],
)  # fmt: skip
def test_an_action_on_an_unknown_account_says_so_and_records_nothing(
    web: WebClient, server: Running, action: str, form: dict[str, str]
) -> None:
    operator(web, server)
    before = log_length(server)
    answer = web.submit("/console/accounts", f"/console/accounts/nobody-{action}/{action}", form)
    assert answer.status_code == 404 and f"no account &#39;nobody-{action}&#39;" in answer.text
    assert log_length(server) == before


def test_the_json_api_takes_operator_tokens_and_records_who_changed_what(
    server: Running,
) -> None:
    t = server.tidings
    token = t.add_operator(f"api{next(_names)}")
    name = token.partition(".")[0]
    bearer = {"authorization": f"Bearer {token}"}
    suspended = server.client.post(f"/api/accounts/{server.login}/suspend",
                                   json={"reason": "x"}, headers=bearer)  # fmt: skip
    assert suspended.status_code == 200, suspended.text
    assert server.admin("POST", f"/api/accounts/{server.login}/resume").status_code == 200
    assert server.admin("GET", f"/api/accounts/{server.login}").status_code == 200
    acted = [(e.event.name, e.event.action) for e in t.operator_actions(server.login)]
    assert acted == [(name, "Suspend an account"), ("admin", "Resume an account")]
    t.revoke_operator(name)
    refused = server.client.get(f"/api/accounts/{server.login}", headers=bearer)
    assert refused.status_code == 401


def test_an_account_opened_through_the_json_api_names_its_operator(server: Running) -> None:
    # given: an operator of the JSON API
    t = server.tidings
    token = t.add_operator(f"api{next(_names)}")
    bearer = {"authorization": f"Bearer {token}"}
    login = f"{server.login}-opened"
    # when: it opens an account
    body = {"login": login, "password": "123456"}
    opened = server.client.post("/api/accounts", json=body, headers=bearer)
    # then: the account's trail names it, and a refused opening records nothing more
    assert opened.status_code == 201, opened.text
    acted = [(e.event.name, e.event.action) for e in t.operator_actions(login)]
    assert acted == [(token.partition(".")[0], "Open an account")]
    assert server.client.post("/api/accounts", json=body, headers=bearer).status_code == 409
    assert len(t.operator_actions(login)) == 1


def test_the_json_api_refuses_an_action_with_nothing_to_do_and_records_nothing(
    server: Running,
) -> None:
    account = f"/api/accounts/{server.login}"
    assert server.admin("POST", account + "/suspend", json={"reason": "x"}).status_code == 200
    assert server.admin("POST", account + "/close", json={"reason": "left"}).status_code == 200
    before = server.tidings.operator_actions(server.login)
    for path, body, text in [
        ("/close", {"reason": "again"}, "account is already closed"),
        ("/suspend", {"reason": "again"}, "account is closed"),
        ("/resume", None, "account is closed"),
        ("/endpoints/resume", {}, "no push endpoint of the account is paused"),
        ("/redeliver", {}, "no delivery of the account to send again"),
    ]:
        answer = server.admin("POST", account + path, json=body)
        assert (answer.status_code, answer.json()) == (409, {"code": 2304, "text": text})
    assert server.tidings.operator_actions(server.login) == before
    other = f"/api/accounts/{server.login}x"
    server.tidings.open_account(f"{server.login}x", "123456")
    answer = server.admin("POST", other + "/resume")
    assert (answer.status_code, answer.json()["text"]) == (409, "account is not suspended")
    assert server.admin("POST", other + "/suspend", json={"reason": "x"}).status_code == 200
    answer = server.admin("POST", other + "/suspend", json={"reason": "x"})
    assert (answer.status_code, answer.json()["text"]) == (409, "account is already suspended")
    acted = server.tidings.operator_actions(f"{server.login}x")
    assert [e.event.action for e in acted] == ["Suspend an account"]


def test_the_account_page_shows_only_its_own_messages_of_what_was_done(
    web: WebClient, server: Running
) -> None:
    operator(web, server)
    base = f"/console/accounts/{server.login}"
    suspended = web.submit(base, base + "/suspend", {"reason": "abuse"})
    assert web.get(suspended.headers["location"]).text.count("Done: suspended.") == 1
    crafted = web.get(f"{base}?done=payout of 5000 EUR approved")
    assert crafted.status_code == 200
    assert "payout" not in crafted.text and "Done:" not in crafted.text


def test_a_closed_account_shows_as_closed_with_no_suspend_or_resume(
    web: WebClient, server: Running
) -> None:
    operator(web, server)
    t = server.tidings
    t.open_account("closing", "123456")
    t.close_account("closing", "contract ended")
    listed = web.get("/console/accounts?q=closing")
    assert re.search(r">closing</a></td>\s*<td>poll</td>\s*<td><span[^>]*>closed<", listed.text)
    page = web.get("/console/accounts/closing")
    assert "<dd>closed (contract ended)</dd>" in page.text
    assert "/suspend" not in page.text and '/resume"' not in page.text


def test_an_accounts_settings_say_yes_or_no(web: WebClient, server: Running) -> None:
    operator(web, server)
    t = server.tidings
    t.open_account("ordering", "123456", channel=UrlChannel(success_url="https://example.com/n"))
    page = web.get("/console/accounts/ordering")
    assert re.search(r">ordered</th><td>no</td>", page.text), page.text
    assert "False" not in page.text


def test_control_characters_show_as_escapes_never_raw(web: WebClient, server: Running) -> None:
    # Given a reason that holds NUL and a terminal's escape (a receiver's answer may too)
    operator(web, server)
    server.tidings.open_account("controlled", "123456")
    server.tidings.suspend("controlled", "bad\x00\x1b[31m red")
    # When the console shows it, then each is a visible \xNN, not a raw control character
    page = web.get("/console/accounts/controlled")
    assert "suspended (bad\\x00\\x1b[31m red)" in page.text
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page.text)
