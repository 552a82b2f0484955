"""`python -m bench --quick --json`: every scenario and subject is measured and reported.

Timings depend on the machine and its load, so nothing here asserts a speed: only that
each measurement happened (ops/s > 0) and that the JSON keeps its documented shape.
"""

import json
import os
import time
from pathlib import Path

import pytest
from tidings.adapters.audit.integrity import replay, verify
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from typer.testing import CliRunner

from bench.__main__ import app
from bench.cache import SUBJECTS, measure_cache
from bench.http import UPTIME_SLICES, uptime_window
from bench.load import Measured
from bench.log import BACKLOG_LOGIN, build_backlog, build_history
from bench.results import Result, targets
from bench.serving import machine_busy, tree_cpu, tree_times

# (scenario, subject, durability): the rows every run must report.
EXPECTED = {
    ("enqueue", "tidings", "equal"),
    ("poll+ack", "tidings", "equal"),
    ("enqueue", "tidings, no tree", "equal"),
    ("poll+ack", "tidings, no tree", "equal"),
    *(
        (scenario, peer, durability)
        for scenario in ("enqueue", "poll+ack")
        for peer in ("persist-queue", "litequeue")
        for durability in ("default", "equal")
    ),
    ("enqueue", "sqlite3", "equal"),
    ("replay", "tidings", "equal"),
    ("replay-backlog", "tidings", "equal"),
    ("poll-cold", "tidings", "equal"),
    ("poll-warm", "tidings", "equal"),
    ("push", "tidings", "equal"),
    ("push", "httpx", "equal"),
    ("http", "tidings WAPI", "equal"),
    ("http", "hello", "equal"),
    ("http uptime", "tidings WAPI", "equal"),
    ("memory-queued", "tidings", "equal"),
    ("memory-replay", "tidings", "equal"),
    *(("cache", subject, "equal") for subject in SUBJECTS),
}


@pytest.mark.slow
def test_quick_bench_reports_every_scenario_and_subject(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = CliRunner().invoke(app, ["--quick", "--size", "30", "--json", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(out.read_text())

    assert set(report) == {"settings", "results", "targets"}
    settings = report["settings"]
    assert settings["quick"] is True
    assert settings["size"] == 30
    assert (settings["journal_mode"], settings["synchronous"]) == ("wal", "FULL")
    assert settings["durability_why"]
    assert settings["log_events"] > settings["history_events"] >= 100_000
    assert settings["backlog"] == 20_000

    results = report["results"]
    assert {(r["scenario"], r["subject"], r["durability"]) for r in results} == EXPECTED
    for r in results:
        assert r["ops_per_s"] > 0, r
        assert r["ops"] > 0, r
    # The queue scenarios run with one client and with 16 threads at once (JSON omits 1).
    queues = ("enqueue", "poll+ack")
    assert {
        (r["scenario"], r["subject"], r["durability"], r.get("clients", 1))
        for r in results
        if r["scenario"] in queues
    } == {(*row, n) for row in EXPECTED if row[0] in queues for n in (1, 16)}
    # Each queue row says what CPU its operations took (the process was never idle).
    assert all(r["cpu_us"] > 0 for r in results if r["scenario"] in queues)
    # tidings counts its transactions: one per command alone (accept, end; poll, ack),
    # fewer with 16 callers sharing them.
    commits = {
        (r["scenario"], r.get("clients", 1)): r["commits_per_op"]
        for r in results
        if r["subject"] == "tidings" and r["scenario"] in queues
    }
    assert commits[("enqueue", 1)] == commits[("poll+ack", 1)] == 2.0
    assert 0 < commits[("enqueue", 16)] <= 2.0
    assert all("commits_per_op" not in r for r in results if not r["subject"].startswith("tidings"))
    # What each subject had in force, read back from its own connection.
    synchronous = {
        (r["subject"], r["durability"]): r["synchronous"] for r in results if "synchronous" in r
    }
    assert synchronous[("litequeue", "default")] == "NORMAL"
    assert synchronous[("litequeue", "equal")] == "FULL"
    assert synchronous[("persist-queue", "equal")] == "FULL"
    assert synchronous[("tidings", "equal")] == "FULL"
    # The poll scenarios compare the mailbox with a long history with an empty one.
    for scenario in ("poll-cold", "poll-warm"):
        histories = sorted(r["history_events"] for r in results if r["scenario"] == scenario)
        assert histories[0] == 0
        assert histories[1] == settings["history_events"]
    assert {t["name"].split(" ")[0] for t in report["targets"]} == {
        "enqueue",
        "poll+ack",
        "replay",
        "poll-cold:",
        "poll-warm:",
        "push",
        "postgres",
        "http:",
        "RSS",
    }
    # Without --postgres, the PostgreSQL targets are there, marked as not measured.
    unmeasured = [t for t in report["targets"] if t["name"].startswith("postgres")]
    assert len(unmeasured) == 3
    assert all(t["note"] == "not measured (no --postgres)" for t in unmeasured)
    assert "not measured (no --postgres)" in run.output
    # HTTP: WAPI and hello, at 1, 16 and 64 clients, with one worker and with more; each
    # row says what the server and the load generator each took of the CPUs.
    http = [r for r in results if r["scenario"] == "http"]
    assert {(r["subject"], r.get("clients", 1), r["workers"] > 1) for r in http} == {
        (subject, n, more)
        for subject in ("tidings WAPI", "hello")
        for n in (1, 16, 64)
        for more in (False, True)
    }
    assert all(r["cpu_us"] > 0 and r["client_cpu_us"] > 0 for r in http)
    # Uptime: one serve, its consecutive windows each measured, judged last over first.
    uptime = [r for r in results if r["scenario"] == "http uptime"]
    assert [r["window"] for r in uptime] == [1, 2, 3, 4, 5]
    assert all(r["cpu_us"] > 0 for r in uptime)
    assert all(0 <= r["system_cpu_us"] <= r["cpu_us"] for r in uptime)
    # Each http row says how busy other work kept the machine's CPUs meanwhile, and what
    # the reference work cost on the machine then.
    assert all(r["other_busy"] >= 0 for r in http + uptime)
    assert all(r["reference_us"] > 0 for r in http + uptime)
    assert any(t["name"].startswith("http: server CPU per WAPI request") for t in report["targets"])
    # A quick run says it judges no target.
    assert "NOT for judging targets" in run.output
    # Memory: a queued notification's RSS, measured on the backlog's 20,000, and the
    # replay's peak on the whole history's log, each from a child process.
    memory = {r["scenario"]: r for r in results if r["scenario"].startswith("memory")}
    assert memory["memory-queued"]["ops"] == 20_000
    assert memory["memory-replay"]["ops"] >= settings["log_events"]  # the polls add a few
    assert memory["memory-replay"]["rss_bytes"] > memory["memory-replay"]["rss_start_bytes"] > 0
    assert memory["memory-queued"]["rss_bytes"] > 0
    # Push: tidings' runner and the bare httpx loop, each with 64 in flight.
    assert {r.get("clients", 1) for r in results if r["scenario"] == "push"} == {64}
    # The backlog replay folds a mailbox whose 20,000 notifications are all still queued:
    # each one's operation (accepted, ended) and its queueing, plus the account.
    (backlog,) = [r for r in results if r["scenario"] == "replay-backlog"]
    assert (backlog["backlog"], backlog["ops"]) == (20_000, 3 * 20_000 + 1)
    assert "never polled" in run.output
    assert "bench: ops/s" in run.output


def test_bulk_history_is_a_log_the_store_could_have_written(tmp_path: Path) -> None:
    """The bench writes its long history in big transactions; the result must still be a
    valid log: an intact hash chain, and every stream (the mailbox loaded from its
    snapshots) equal to its replay."""
    history = build_history(tmp_path / "history.db", 3_000, snapshot_every=200)
    assert history.mailbox_events >= 3_000
    assert (history.mailbox_events + 2) % 200 == 199  # the worst case for a cold load
    store = Store(str(history.path))
    try:
        checked, broken = verify(store)
        assert broken is None
        assert checked == history.log_events
        report = replay(store)
        assert report.mismatches == []
        assert report.events == history.log_events
    finally:
        store.close()


def test_bulk_backlog_is_a_log_the_store_could_have_written(tmp_path: Path) -> None:
    """The never-polled mailbox: every notification still queued, snapshots spaced as
    the store spaces them, and the log as valid as one the store wrote."""
    backlog = build_backlog(tmp_path / "backlog.db", 1_000, snapshot_every=4)
    assert backlog.mailbox_events == 1_000
    store = Store(str(backlog.path))
    try:
        checked, broken = verify(store)
        assert (checked, broken) == (backlog.log_events, None)
        report = replay(store)
        assert (report.mismatches, report.events) == ([], backlog.log_events)
    finally:
        store.close()
    with Tidings(str(backlog.path)) as tidings:
        assert [n.id for n in tidings.mailbox(BACKLOG_LOGIN).notifications] == list(range(1, 1_001))


def test_the_cache_rows_read_the_same_versions_through_every_subject(tmp_path: Path) -> None:
    # measure_cache asserts that every subject read the same version of each mailbox
    rows = measure_cache(tmp_path / "cache.db", 3, 6)
    assert [r.subject for r in rows] == list(SUBJECTS)
    assert all(r.ops == 12 and r.ops_per_s > 0 and r.cpu_us for r in rows)


def test_a_process_tree_cpu_is_its_user_and_system_time() -> None:
    # given: this process, having used some CPU
    sum(range(200_000))
    # when: its tree's CPU is read, whole and split
    user, system = tree_times(os.getpid())
    whole = tree_cpu(os.getpid())
    # then: the whole is the two parts (ticks may pass between the reads)
    assert user > 0 and system >= 0
    assert user + system <= whole <= user + system + 0.5


def test_the_machine_busy_time_counts_this_process_work() -> None:
    # given: the machine's busy CPU time so far
    before, spent = machine_busy(), time.process_time()
    # when: this process keeps a CPU busy for a while
    while time.process_time() - spent < 0.3:
        sum(range(10_000))
    # then: the machine's busy time grew by at least most of it (ticks are coarse)
    assert machine_busy() - before >= 0.2


def test_an_uptime_window_is_the_median_of_its_slices_not_their_burst() -> None:
    # given: a window's slices, each 1,000 requests at 200 µs of server CPU apiece,
    # except one that other work disturbed: 600 µs apiece, fewer requests
    calm = Measured(1_000, 10.0, 0.2, 0.03, 0.04, machine_cpu=0.25)
    burst = Measured(500, 10.0, 0.3, 0.02, 0.05, machine_cpu=12.0)
    slices = [calm] * (UPTIME_SLICES - 1) + [burst]
    # when: the window's row is made
    row = uptime_window(slices, 3)
    # then: its CPU per request is the calm slices', its requests and seconds the sum
    assert row.cpu_us == pytest.approx(200.0)
    assert (row.window, row.ops, row.seconds) == (3, 1_000 * (UPTIME_SLICES - 1) + 500, 60.0)
    # and: the other work shows, as the CPUs it kept busy on average over the window
    calm_others, burst_others = (0.25 - 0.2 - 0.03) / 10, (12.0 - 0.3 - 0.02) / 10
    others = ((UPTIME_SLICES - 1) * calm_others + burst_others) / UPTIME_SLICES
    assert row.other_busy == pytest.approx(others)


def test_the_uptime_target_says_how_much_the_machine_slowed_meanwhile() -> None:
    def window(number: int, cpu_us: float, reference_us: float) -> Result:
        return Result(
            scenario="http uptime",
            subject="tidings WAPI",
            durability="equal",
            ops_per_s=1.0,
            ops=1,
            seconds=60.0,
            window=number,
            cpu_us=cpu_us,
            reference_us=reference_us,
        )

    # given: the server's CPU per request grew 1.32x, the reference work's 1.20x
    results = [window(1, 200.0, 5_000.0), window(5, 264.0, 6_000.0)]
    # when
    (found,) = [t for t in targets(results) if t.name.startswith("http: server CPU")]
    # then: the target judges the server's growth as measured, and says the machine's
    assert (found.measured, found.met) == (pytest.approx(1.32), False)
    assert found.aside == "the reference work's CPU 1.20 over the same windows: 1.10 against it"


def test_the_hello_ceiling_divides_the_http_row_not_an_uptime_window() -> None:
    def row(scenario: str, subject: str, ops_per_s: float, **more: int) -> Result:
        return Result(
            scenario=scenario,
            subject=subject,
            durability="equal",
            ops_per_s=ops_per_s,
            ops=1,
            seconds=1.0,
            clients=64,
            workers=more.get("workers", 1),
            window=more.get("window"),
            cpu_us=1.0,
        )

    # given: the http rows, then an uptime window of the same worker and clients
    results = [
        row("http", "tidings WAPI", 400.0),
        row("http", "tidings WAPI", 600.0, workers=2),
        row("http", "hello", 1000.0),
        row("http", "hello", 1200.0, workers=2),
        row("http uptime", "tidings WAPI", 100.0, window=1),
    ]
    # when
    found = {t.name: t for t in targets(results)}
    # then: 400 / 1000 and 600 / 400, the uptime window left out of both
    ceiling = found["http: WAPI requests/s vs the hello ceiling, 1 worker, 64 clients"]
    workers = found["http: WAPI requests/s, --workers 2 vs --workers 1, 64 clients"]
    assert (ceiling.measured, workers.measured) == (0.4, 1.5)
    # and: the workers' row says what a second worker bought the hello: 1200 / 1000
    assert workers.aside == "the hello's own: 1.20x"
