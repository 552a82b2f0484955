"""Paths and query strings a client makes up: numbers in digits outside ASCII, of
thousands of digits, or past what a store holds. Each is answered (404, 422, a page),
never a 500, and writes nothing."""

import pytest

from tests.http.conftest import ADMIN_TOKEN, Running

NUMBERS = ["%C2%B2%C2%B2%C2%B2", "%D9%A1%D9%A2%D9%A3", "9" * 5000, "99999999999999999999", "-1"]
GROUPS = "x999/" * 30


def log_length(server: Running) -> int:
    return sum(1 for _ in server.tidings.log())


@pytest.mark.parametrize(
    "path",
    [
        *(f"/log/tile/{n}/000" for n in NUMBERS),
        *(f"/log/tile/0/{n}" for n in NUMBERS),
        *(f"/log/tile/0/000.p/{n}" for n in NUMBERS),
        "/log/tile/0/x%C2%B2%C2%B2%C2%B2/000",
        f"/log/tile/0/{GROUPS}000",
        *(f"/log/tile/entries/{n}" for n in NUMBERS),
        f"/log/tile/entries/{GROUPS}000",
        f"/log/tile/entries/{GROUPS}000.p/1",
        # One path per tile (C2SP tlog-tiles): no leading zeros in a level or a width,
        # no leading `x000` group in an index.
        "/log/tile/0/000.p/01",
        "/log/tile/entries/000.p/01",
        "/log/tile/00/000.p/1",
        "/log/tile/0/x000/000.p/1",
    ],
)
def test_tiles_of_made_up_indexes_are_not_found(server: Running, path: str) -> None:
    before = log_length(server)
    answer = server.admin("GET", path)
    assert answer.status_code == 404, answer.text
    assert log_length(server) == before


@pytest.mark.parametrize("number", NUMBERS)
def test_api_numbers_of_any_shape_are_refused(server: Running, number: str) -> None:
    for path in (
        f"/api/accounts?after={number}",
        f"/api/accounts/{server.login}/queue?limit={number}",
    ):
        answer = server.admin("GET", path)
        assert answer.status_code == 422 and answer.json()["code"] == 2101, answer.text
    trail = server.admin("GET", f"/api/trail/{server.login}/{number}")
    assert trail.status_code == 200 and trail.json() == []
    assert ADMIN_TOKEN not in trail.text
