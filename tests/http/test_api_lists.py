"""The JSON API's lists (accounts a page at a time, an account's queue), its one password
rule, and JSON for every /api error, unknown routes and methods included."""

import pytest

from tests.http.conftest import ADMIN_TOKEN, Running, call_until
from tests.http.test_api import call
from tests.http.test_wapi_cycle import json_request


def test_accounts_come_a_page_at_a_time_in_the_order_they_were_opened(server: Running) -> None:
    mine = [f"{server.login}p{n}" for n in range(3)]
    for login in mine:
        call(server, "POST", "/api/accounts", json={"login": login, "password": "pw"})
    seen: list[str] = []
    after = 0
    while True:
        page = call(server, "GET", "/api/accounts", params={"after": after, "limit": 2}).json()
        assert len(page["accounts"]) <= 2
        assert all("password" not in str(a) and "secret" not in str(a) for a in page["accounts"])
        seen += [account["login"] for account in page["accounts"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert [login for login in seen if login in mine] == mine
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"after": -1}, {"limit": "x"}])
def test_a_bad_page_is_2101(server: Running, query: dict[str, object]) -> None:
    answer = call(server, "GET", "/api/accounts", params=query)
    assert (answer.status_code, answer.json()["code"]) == (422, 2101)


def test_the_queue_shows_count_oldest_and_first_notifications(server: Running) -> None:
    login = server.login
    empty = call(server, "GET", f"/api/accounts/{login}/queue").json()
    assert (empty["count"], empty["oldest_at"], empty["notifications"]) == (0, None, [])
    for n in range(3):
        server.wapi("json", json_request(login, "ping-async", f"q-{n}"))
    queue = call_until(
        lambda: call(server, "GET", f"/api/accounts/{login}/queue", params={"limit": 2}).json(),
        lambda q: q["count"] == 3,
        what="three queued pings",
    )
    assert [n["id"] for n in queue["notifications"]] == [1, 2]
    assert queue["oldest_at"] == queue["notifications"][0]["outcome"]["timestamp"]
    missing = call(server, "GET", "/api/accounts/nobody/queue")
    assert (missing.status_code, missing.json()["code"]) == (404, 2303)


@pytest.mark.parametrize("password", ["", "   "])
def test_an_empty_or_blank_password_is_refused(server: Running, password: str) -> None:
    login = server.login + "e"
    answer = call(server, "POST", "/api/accounts", json={"login": login, "password": password})
    assert (answer.status_code, answer.json()["code"]) == (422, 2101)
    assert call(server, "GET", f"/api/accounts/{login}").status_code == 404
    change = call(server, "PUT", f"/api/accounts/{server.login}/password",
                  json={"password": password})  # fmt: skip
    assert (change.status_code, change.json()["code"]) == (422, 2101)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/no-such-thing", 404),
        ("POST", "/api/accounts/x/y/z", 404),
        ("DELETE", "/api/accounts/someone", 405),
        ("GET", "/api/operations", 405),
    ],
)
def test_unknown_routes_and_methods_answer_json(
    server: Running, method: str, path: str, status: int
) -> None:
    response = server.admin(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == 2010 and path in response.json()["text"]


def test_outside_the_api_a_404_stays_plain(server: Running) -> None:
    response = server.client.get("/nowhere", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 404 and response.text == "Not Found"
