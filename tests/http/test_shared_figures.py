"""One set of figures across the workers of one server: the guessing throttle's budget
holds for all of them together, and /metrics answers the same totals whichever worker
is scraped (real processes, a real port)."""

import re
from pathlib import Path

import httpx
from tidings.adapters import Tidings

from tests.http.conftest import wapi_auth
from tests.http.processes import ADMIN, serve_process

BUDGET = 30
SCRAPES = 10


def _guess(base: str, n: int) -> httpx.Response:
    """A wrong token on a connection of its own (any worker may take it)."""
    request = {"user": "tester", "auth": f"{n:040x}", "command": "ping", "clTRID": f"g{n}"}
    return httpx.post(f"{base}/wapi/json", json={"request": request})


def _worker(answer: httpx.Response) -> str:
    return str(answer.json()["response"]["svTRID"]).split(".")[1]


def _total(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def test_two_workers_share_the_guessing_budget_and_the_metrics(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
    options = ("--port", "0", "--workers", "2", "--auth-floor", "0")
    with serve_process(db, *options) as served:
        answers = [_guess(served.base, n) for n in range(1, BUDGET + 2)]
        first_refused = next(
            n for n, a in enumerate(answers, start=1) if "retry-after" in a.headers
        )
        workers = {_worker(a) for a in answers}
        print(f"first Retry-After at attempt {first_refused}, workers seen {len(workers)}")
        assert first_refused == BUDGET + 1
        assert all(a.json()["response"]["code"] == 2050 for a in answers)
        assert len(workers) == 2, "every guess went to one worker: the test shows nothing"
        # Right credentials from the same address are refused too: the budget is spent.
        right = {"user": "tester", "auth": wapi_auth("tester", "123456"), "command": "ping"}
        again = httpx.post(f"{served.base}/wapi/json", json={"request": right})
        assert "retry-after" in again.headers

        totals = []
        for _ in range(SCRAPES):
            # Each on a connection of its own, from another address (another machine):
            # this one has spent its budget.
            scraper = httpx.HTTPTransport(local_address="127.0.0.2")
            with httpx.Client(transport=scraper, headers=ADMIN) as client:
                text = client.get(f"{served.base}/metrics").raise_for_status().text
            totals.append(
                (
                    _total(text, "tidings_auth_failures_total"),
                    _total(text, "tidings_throttled_requests_total"),
                    _total(text, "tidings_accounts"),
                )
            )
        print(f"metric totals over {SCRAPES} scrapes: {sorted(set(totals))}")
        assert len(set(totals)) == 1, totals
        assert totals[0] == (BUDGET, 2, 1)
