"""`TIDINGS_REDACT_HEADERS` names more headers to keep out of a recorded Merchants
init request (and so out of the permanent log and the JobResult push)."""

from pathlib import Path

import pytest
from tidings.adapters.library import Tidings

from tests.http.conftest import call_until, serve, settings_for


def test_a_site_specific_header_is_redacted_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_REDACT_HEADERS", " X-Custom-Secret ,x-other-secret")
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("shop", "123456")
    with serve(settings_for(db)) as running:
        headers = {"x-ApplicationId": "shop", "x-Token": "123456",
                   "X-Custom-Secret": "hunter2", "X-Other-Secret": "swordfish",
                   "X-Plain": "kept", "content-type": "application/json"}  # fmt: skip
        answer = running.client.post("/merchants/products", content=b"{}", headers=headers)
        assert answer.status_code == 202, answer.text
        svtrid = str(answer.json()["Id"])
        state = call_until(
            lambda: running.tidings.operation(svtrid), lambda s: s is not None, what="the job"
        )
    assert state is not None and state.accepted is not None
    request = state.accepted.init_request
    assert request is not None
    recorded = dict(request.headers)
    assert recorded["X-Custom-Secret"] == recorded["X-Other-Secret"] == "[redacted]"
    assert recorded["x-Token"] == "[redacted]" and recorded["X-Plain"] == "kept"
