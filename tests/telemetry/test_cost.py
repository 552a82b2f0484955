"""What tracing costs: nothing but a few calls while it is off, and the server's CPU per
WAPI request with it on and off (`pytest -s` prints the figures; docs/decisions.md)."""

import os
import time
from pathlib import Path

import httpx
import pytest
from tidings.adapters import Tidings, telemetry

from tests.http.conftest import wapi_auth
from tests.http.processes import serve_process, workers_of

_CALLS = 100_000
_WARM, _MEASURED = 100, 1000
_TICK = os.sysconf("SC_CLK_TCK")


def test_tracing_off_costs_a_few_calls() -> None:
    if telemetry.ON:
        pytest.skip("tracing is on in this environment")
    scope = {"type": "http", "method": "POST", "path": "/wapi/json", "headers": []}

    def body() -> None:
        pass

    started = time.process_time()
    for _ in range(_CALLS):  # what a WAPI request and its one command call while off
        assert telemetry.request(scope) is None
        telemetry.carried()
        with telemetry.commit(1), telemetry.command(body, telemetry.parent()):
            telemetry.note(login="x")
    per_request = (time.process_time() - started) / _CALLS
    print(f"\ntracing off: {per_request * 1e6:.2f} us of CPU per request")
    assert per_request < 5e-6


def _cpu(pid: int) -> float:
    """CPU seconds `pid` and its worker processes have used so far."""
    total = 0
    for one in [pid, *workers_of(pid)]:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def _cpu_per_poll(db: str, env: dict[str, str]) -> float:
    with serve_process(db, "--port", "0", "--workers", "1", env=env) as served:
        request = {"user": "costs", "command": "poll-req", "clTRID": "cl"}
        with httpx.Client(base_url=served.base) as client:

            def poll() -> None:
                auth = wapi_auth("costs", "123456")
                answer = client.post("/wapi/json", json={"request": {**request, "auth": auth}})
                assert answer.json()["response"]["code"] == 1003  # the queue is empty

            for _ in range(_WARM):
                poll()
            before = _cpu(served.process.pid)
            for _ in range(_MEASURED):
                poll()
            return (_cpu(served.process.pid) - before) / _MEASURED


@pytest.mark.slow
def test_server_cpu_per_wapi_request_with_tracing_on_and_off(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from tests.telemetry.otlp import collector

    db = str(tmp_path / "tidings.db")
    with Tidings(db) as t:
        t.open_account("costs", "123456")
    off = _cpu_per_poll(db, {})
    with collector() as otlp:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        on = _cpu_per_poll(db, env)
        assert otlp.named("POST /wapi/json")
    print(f"\nserver CPU per WAPI poll-req: {off * 1e3:.3f} ms off, {on * 1e3:.3f} ms on")
    assert on < off * 5
