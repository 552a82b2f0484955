"""Logs an operator can follow: the request id taken or made, echoed and carried by
every line of the request; one event per refused authentication and one when a client
is throttled; readable lines by default and JSON lines on demand."""

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tidings.adapters.http.limits import Limits
from tidings.adapters.logs import JsonLines, Readable

from tests.http.conftest import Running, events, serve, settings_for


def _guess(running: Running, n: int, request_id: str) -> Any:
    request = {"user": "tester", "auth": f"{n:040x}", "command": "ping"}
    return running.client.post(
        "/wapi/json", json={"request": request}, headers={"x-request-id": request_id}
    )


def test_refusals_and_throttling_are_events_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    limits = Limits(auth_failures_per_address=3, auth_failures_per_login=3, auth_floor=0.0)
    with serve(settings_for(str(tmp_path / "t.db"), limits=limits)) as running:
        running.tidings.open_account("tester", "123456")
        answers = [_guess(running, n, f"guess-{n}") for n in range(6)]
    assert [a.headers["x-request-id"] for a in answers] == [f"guess-{n}" for n in range(6)]
    refused = events(caplog, "authentication_refused")
    assert [(e["login"], e["request_id"]) for e in refused] == [
        ("tester", f"guess-{n}") for n in range(3)
    ]
    [throttled] = events(caplog, "client_throttled")  # once, not per refused request
    assert throttled["login"] == "tester" and throttled["request_id"] == "guess-3"
    access = [e for e in events(caplog, "request") if e["path"] == "/wapi/json"]
    assert [e["request_id"] for e in access] == [f"guess-{n}" for n in range(6)]
    assert all(e["login"] == "tester" and e["svtrid"] and e["wapi_code"] == 2050 for e in access)


def test_a_request_without_a_usable_id_gets_one(server: Running) -> None:
    minted = server.client.get("/healthz").headers["x-request-id"]
    unusable = server.client.get("/healthz", headers={"x-request-id": "a b"})
    assert len(minted) == 16 and unusable.headers["x-request-id"] not in ("a b", minted)


def test_an_event_reads_as_a_line_or_as_json() -> None:
    record = logging.LogRecord("tidings.push", logging.WARNING, __file__, 1, {}, None, None)
    record.msg = {"event": "delivery_gave_up", "login": "hooked", "reason": "gone away"}
    line = Readable().format(record)
    assert line.endswith('WARNING tidings.push: delivery_gave_up login=hooked reason="gone away"')
    parsed = json.loads(JsonLines().format(record))
    assert parsed["event"] == "delivery_gave_up" and parsed["level"] == "warning"


def test_an_access_record_holds_the_wapi_code_as_a_number(
    server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = {"user": "nobody", "auth": "0" * 40, "command": "ping"}
    server.client.post("/wapi/json", json={"request": request})
    [access] = [e for e in events(caplog, "request") if e["path"] == "/wapi/json"]
    assert access["wapi_code"] == 2050 and type(access["wapi_code"]) is int  # not `Code`
