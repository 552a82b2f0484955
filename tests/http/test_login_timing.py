"""Which logins exist cannot be told from how long a wrong token takes to be refused.

A login never seen before costs the server a database load, a known one a cache hit
(about 30 us apart, measured |z| = 34 before); the gate answers every refusal no sooner
than its floor after the request came in. The two kinds of tries are interleaved in a
random order on each of a few client threads, so a stall of a loaded machine falls on
both alike; their answer times are compared with the Mann-Whitney U test.
"""

import math
import random
import threading
import time

import httpx
from tidings.adapters.http.limits import Limits

from tests.http.conftest import serve, settings_for

TRIES = 1000  # of each kind
THREADS = 4
FLOOR = 0.01
MAX_Z = 4.0


def mann_whitney_z(a: list[float], b: list[float]) -> float:
    """The normal approximation's z of the Mann-Whitney U of samples `a` and `b` (ties
    take their mean rank; the times here are continuous, so there are few)."""
    ranked = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(ranked)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(rank for rank, (_, kind) in zip(ranks, ranked, strict=True) if kind == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    return (u1 - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)


def test_mann_whitney_z_sees_a_shift() -> None:
    rng = random.Random(7)
    same = [rng.gauss(0, 1) for _ in range(1000)]
    assert abs(mann_whitney_z(same[:500], same[500:])) < 4
    assert mann_whitney_z([x + 0.5 for x in same[:500]], same[500:]) > 4


def test_a_wrong_token_takes_as_long_for_an_unknown_login_as_for_a_known_one(
    db_url: str,
) -> None:
    unthrottled = Limits(
        auth_failures_per_address=10**9, auth_failures_per_login=10**9, auth_floor=FLOOR
    )
    times: dict[bool, list[float]] = {True: [], False: []}
    lock = threading.Lock()
    with serve(settings_for(db_url, limits=unthrottled)) as running:
        known = [f"known{n}" for n in range(THREADS)]
        for login in known:
            running.tidings.open_account(login, "123456")

        def tries(worker: int) -> None:
            rng = random.Random(worker)
            kinds = [True, False] * (TRIES // THREADS)
            rng.shuffle(kinds)
            with httpx.Client(base_url=running.url, timeout=10) as client:
                for n, is_known in enumerate(kinds):
                    user = known[worker] if is_known else f"ghost{worker}x{n}"
                    request = {"user": user, "auth": "0" * 40, "command": "ping"}
                    started = time.perf_counter()
                    answer = client.post("/wapi/json", json=request)
                    took = time.perf_counter() - started
                    assert answer.json()["response"]["code"] == 2050
                    with lock:
                        times[is_known].append(took)

        workers = [threading.Thread(target=tries, args=(n,)) for n in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    assert len(times[True]) == len(times[False]) == TRIES
    assert min(times[True] + times[False]) >= 0.9 * FLOOR  # the event loop may wake early
    z = mann_whitney_z(times[False], times[True])
    print(f"unknown vs known login: z = {z:.2f}")
    assert abs(z) <= MAX_Z, f"unknown vs known login: |z| = {abs(z):.1f}"
