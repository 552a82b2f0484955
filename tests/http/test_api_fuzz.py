"""Made-up calls to every route of the JSON API (`api.ENDPOINTS`): bodies with the
route's own field names and the wrong values, odd path parameters and query strings.
Every answer is JSON with a result code, never a 500; a refused call writes nothing."""

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.adapters.http.api import ENDPOINTS, Endpoint
from tidings.domain import Code

from tests.http.conftest import ADMIN_TOKEN, Running, fuzz, log_length

FUZZ = fuzz(150)
CODES = {int(code) for code in Code}
LEAVES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "\u00b2", "9" * 30, "-1", "1e3", "2026-12-07T03:00:00Z",
                     "poll", "url", "email", "https://client.example/", "127.0.0.1", "::1/200",
                     "Failed", "\u00e9" * 100]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
)  # fmt: skip
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PARAMS = st.sampled_from(
    ["{login}", "{svtrid}", "{login}/1", "nobody", "%00", "%C2%B2", "a%20b", "x" * 300, "a.b", "-1"]
)
_logins = itertools.count(1)
SECRET = "pw-fuzzed-secret"  # the passwords sent: none may reach the log output


def _fields(body: type) -> list[str]:
    return [*getattr(body, "__struct_fields__", ()), "unknown"]


# A valid body of each type, for near-valid calls: one member replaced by a made-up value.
VALID: dict[str, dict[str, Any]] = {
    "NewAccount": {"login": "{new}", "password": SECRET},
    "ChannelSetting": {"channel": {"type": "url", "success_url": "https://client.example/n"}},
    "RetryPolicy": {"schedule": [1.0, 2.0], "jitter": 0.1},
    "AllowedIps": {"allowed_ips": ["10.0.0.0/8"]},
    "NewPassword": {"password": SECRET},
    "AckUpToId": {"up_to": 1, "operator": "admin"},
    "Suspension": {"reason": "r"},
    "Closure": {"reason": "r"},
    "NewOperation": {"login": "{login}", "command": "c", "cltrid": "cl"},
    "NewStep": {"text": "t"},
    "Ending": {"code": 1000, "result": "OK", "data": {"k": "v"}},
    "Redelivery": {"notification_id": 1, "delivered": True},
    "ResumeTarget": {"target": None},
}
CHANNELS = st.fixed_dictionaries(
    {"type": st.sampled_from(["url", "email", "poll", "x"])},
    optional={
        "success_url": VALUES,
        "error_url": VALUES,
        "address": VALUES,
        "expected_status": VALUES,
        "body_format": VALUES,
        "fallback": VALUES,
        "ordered": VALUES,
    },
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Endpoint, dict[str, str], bytes | None, dict[str, str]]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    names = [part[1:-1].split(":")[0] for part in endpoint.path.split("/") if part[:1] == "{"]
    params = {name: draw(PARAMS) for name in names}
    body = None
    if endpoint.body is not None:
        shape = draw(st.sampled_from(["near", "near", "fields", "value", "bytes"]))
        if shape == "near":
            document = dict(VALID[endpoint.body.__name__])
            key = draw(st.sampled_from([*document, "channel", "unknown"]))
            document[key] = draw(CHANNELS if key == "channel" else VALUES)
            body = json.dumps(document, allow_nan=True).encode()
        elif shape == "fields":
            keys = st.sampled_from(_fields(endpoint.body))
            document = draw(st.dictionaries(keys, VALUES, max_size=5))
            body = json.dumps(document, allow_nan=True).encode()
        elif shape == "value":
            body = json.dumps(draw(VALUES), allow_nan=True).encode()
        else:
            body = draw(st.binary(max_size=60))
    query = {name: draw(st.one_of(LEAVES.map(str), st.just("5"))) for name in endpoint.query}
    return endpoint, params, body, query


@FUZZ
@given(call=calls())
def test_every_route_answers_a_result_code(
    shared_server: Running,
    caplog: pytest.LogCaptureFixture,
    call: tuple[Endpoint, dict[str, str], bytes | None, dict[str, str]],
) -> None:
    server = shared_server
    caplog.set_level("INFO")
    endpoint, params, body, query = call
    login = f"apifuzz{next(_logins)}"
    server.tidings.open_account(login, SECRET)
    svtrid = server.tidings.accept(login, "cl", "c").svtrid
    server.tidings.end(server.tidings.accept(login, "cl", "c").svtrid, 1000, "OK")
    path = endpoint.path
    if body is not None:
        body = body.replace(b"{login}", login.encode()).replace(b"{new}", login.encode() + b"n")
    for name, value in params.items():
        shown = value.replace("{login}", login).replace("{svtrid}", svtrid)
        path = path.replace("{" + name + "}", shown).replace("{" + name + ":path}", shown)
    before = log_length(server)
    answer = server.admin(endpoint.method, path, content=body, params=query)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        error = answer.json()
        assert error["code"] in CODES and error["text"], answer.text
        assert log_length(server) == before, answer.text
    assert ADMIN_TOKEN not in answer.text
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert SECRET not in logged and ADMIN_TOKEN not in logged and "Traceback" not in logged
