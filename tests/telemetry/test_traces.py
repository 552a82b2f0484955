"""Traces across processes: a real `tidings serve --workers 2 --no-worker` and a real
`tidings worker` export their spans over OTLP/HTTP to a receiver on 127.0.0.1; the
operation a WAPI request accepted in the server is ended by the worker and pushed to a
real receiver, and the ending and each attempt link back to the accepting request's
span."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
from tidings.adapters import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until, wapi_auth
from tests.http.processes import serve_process
from tests.push.conftest import Receiver, receiver
from tests.telemetry.otlp import collector

__all__ = ["receiver"]  # the fixture, used by name below


@contextmanager
def worker_process(db: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    """`tidings worker` (JSON log lines into `log`) until the block ends; its whole
    process group is killed then."""
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "worker",
               "--db", db, "--log-format", "json", "--ping-delay", "0.1"]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stderr=sink, start_new_session=True
        )
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


REQUEST_ID = "accept-otel-1"
TWO_TRIES = RetryPolicy(schedule=(0.05,), jitter=0.0)


def _ids(traceparent: str) -> tuple[str, str]:
    """(trace id, span id) of a W3C `traceparent` (version-traceid-spanid-flags)."""
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def test_an_operation_is_traced_from_its_request_to_each_push(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = str(tmp_path / "tidings.db")
    with Tidings(db) as t:
        channel = UrlChannel(success_url=receiver.url("/flaky/1"))
        t.open_account("traced", "123456", channel=channel, retry_policy=TWO_TRIES)
    with collector() as otlp:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_SERVICE_NAME": "tidings-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        options = ("--port", "0", "--workers", "2", "--no-worker")
        log = tmp_path / "worker.log"
        with serve_process(db, *options, env=env) as served, worker_process(db, log, env):
            request = {
                "user": "traced",
                "auth": wapi_auth("traced", "123456"),
                "command": "ping-async",
                "clTRID": "cl-traced",
            }
            answer = httpx.post(
                f"{served.base}/wapi/json",
                json={"request": request},
                headers={"x-request-id": REQUEST_ID},
            )
            svtrid = answer.json()["response"]["svTRID"]
            wait_until(lambda: len(receiver.to("/flaky/1")) == 2, timeout=30, what="two pushes")
            attempts = wait_until(
                lambda: len(otlp.named("tidings attempt")) == 2 and otlp.named("tidings attempt"),
                timeout=30,
                what="the attempts' spans",
            )
            [accepted] = wait_until(
                lambda: [
                    s
                    for s in otlp.named("POST /wapi/json")
                    if s.attributes.get("tidings.request_id") == REQUEST_ID
                ],
                what="the request's span",
            )
            [accept] = wait_until(lambda: otlp.named("tidings accept"), what="the accept span")
            [ending] = wait_until(lambda: otlp.named("tidings end"), what="the ending span")
            commits = wait_until(lambda: otlp.named("tidings commit"), what="commit spans")
            # A request through the middleware (the JSON API) has its span too.
            read = httpx.get(
                f"{served.base}/api/accounts/traced",
                headers={"authorization": "Bearer processes-token", "x-request-id": "read-2"},
            )
            assert read.status_code == 200
            [api] = wait_until(
                lambda: otlp.named("GET /api/accounts/{login}"), what="the API request's span"
            )
            [api_command] = wait_until(
                lambda: [s for s in otlp.spans if s.parent_span_id == api.span_id],
                what="the API request's command",
            )

    # The request's span names its login and svTRID and carries no secret.
    assert accepted.service == "tidings-test" and accepted.kind == 2  # SERVER
    assert accepted.attributes["tidings.login"] == "traced"
    assert accepted.attributes["tidings.svtrid"] == svtrid
    assert accepted.attributes["http.response.status_code"] == 200
    assert "123456" not in repr(otlp.spans)
    assert api.attributes["tidings.request_id"] == "read-2"
    assert api.attributes["http.route"] == "/api/accounts/{login}"
    assert api_command.trace_id == api.trace_id
    # The command is a child of the request; a commit span links to it.
    assert (accept.trace_id, accept.parent_span_id) == (accepted.trace_id, accepted.span_id)
    assert accept.attributes["tidings.svtrid"] == svtrid
    assert any((accept.trace_id, accept.span_id) in c.links for c in commits)
    # The ending (the runner's) and each attempt link to the accepting request's span.
    request_link = (accepted.trace_id, accepted.span_id)
    assert request_link in ending.links
    for span in attempts:
        assert request_link in span.links
        assert span.attributes["tidings.svtrid"] == svtrid
    assert sorted(s.attributes["tidings.attempt"] for s in attempts) == [1, 2]
    # Each push carried its attempt span's traceparent.
    sent = sorted(_ids(r.headers["traceparent"]) for r in receiver.to("/flaky/1"))
    assert sent == sorted((span.trace_id, span.span_id) for span in attempts)
    # The worker's line of the failed attempt names the request that accepted it.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [failed] = [line for line in lines if line.get("event") == "delivery_attempt_failed"]
    assert failed["request_id"] == REQUEST_ID and failed["svtrid"] == svtrid


def test_spans_still_waiting_are_exported_when_the_server_stops(tmp_path: Path) -> None:
    with collector() as otlp:
        # Spans wait a minute to be sent: only the stop's flush sends them in time.
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "60000"}
        db = str(tmp_path / "tidings.db")
        with serve_process(db, "--port", "0", "--workers", "2", env=env) as served:
            assert httpx.get(f"{served.base}/readyz").status_code == 200
            served.process.send_signal(signal.SIGTERM)
            served.process.wait(timeout=30)
            assert otlp.named("GET /readyz")
