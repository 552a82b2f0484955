"""Random bytes and near-valid documents at the live WAPI endpoint: never a 5xx, always a
well-formed answer in the dialect, no state change, and the server still answers."""

import json
from typing import Any
from urllib.parse import quote_from_bytes

import defusedxml.ElementTree as SafeET
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.domain import Code

from tests.http.conftest import Running, call_until, fuzz, wapi_auth

FUZZ = fuzz(120)
CODES = {int(code) for code in Code}
CONTENT_TYPES = st.sampled_from(
    [
        "text/xml",
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "",
        "text/plain; charset=latin-1",
    ]
)
TRICKY = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", " ", "\u0000", "\ud800", "&amp;", "]]>", "<x/>", "1", "-1", "9" * 40, "\u010d" * 70]
    ),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
# Commands that cannot change state for this account: its only notification has been
# fetched already, and acks use ids other than the head's.
COMMANDS = st.sampled_from(["ping", "poll-req", "notify-poll-req", "poll-ack", "x", ""])


@pytest.fixture
def fuzzed(server: Running) -> Running:
    """The test account with one notification, already fetched (so polls change
    nothing), and the log length to compare with afterwards."""
    pending = server.tidings.accept(server.login, "seed", "seed-op")
    server.tidings.end(pending.svtrid, 1000, "OK")
    answer = server.tidings.poll(server.login, svtrid=server.tidings.new_svtrid())
    assert answer.code == Code.OK
    return server


def state(server: Running) -> tuple[Any, ...]:
    t = server.tidings
    return (sum(1 for _ in t.log()), t.mailbox(server.login), t.account(server.login))


def check(server: Running, dialect: str, response: Any) -> None:
    assert response.status_code == 200, response.text
    if dialect == "xml":
        root = SafeET.fromstring(response.content)
        code = int(root.findtext("code") or 0)
    else:
        code = response.json()["response"]["code"]
    assert code in CODES and code != Code.COMMAND_FAILED, response.text


def still_answers(server: Running) -> None:
    document = json.dumps(
        {"user": server.login, "auth": wapi_auth(server.login, server.password), "command": "ping"}
    )
    response = server.wapi("json", document)
    assert response.json()["response"]["code"] == 1000


@FUZZ
@given(
    body=st.binary(max_size=400),
    content_type=CONTENT_TYPES,
    dialect=st.sampled_from(["xml", "json"]),
)
def test_random_bytes(fuzzed: Running, body: bytes, content_type: str, dialect: str) -> None:
    before = state(fuzzed)
    response = fuzzed.client.post(
        f"/wapi/{dialect}", content=body, headers={"content-type": content_type}
    )
    check(fuzzed, dialect, response)
    assert state(fuzzed) == before


def _member(name: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in value.items() if k.isidentifier())
        return f"<{name}>{inner}</{name}>"
    return f"<{name}>{value}</{name}>"


@st.composite
def near_valid(draw: st.DrawFn, login: str, password: str) -> tuple[str, bytes]:
    fields: dict[str, Any] = {
        "user": draw(st.sampled_from([login, login.upper(), "nobody", ""])),
        "auth": draw(st.sampled_from([wapi_auth(login, password), "0" * 40, ""])),
        "command": draw(COMMANDS),
        "clTRID": draw(TRICKY),
    }
    if draw(st.booleans()):
        fields["data"] = draw(
            st.one_of(TRICKY, st.fixed_dictionaries({"id": st.sampled_from(["2", "0", "x", 3])}))
        )
    if draw(st.booleans()):
        fields["test"] = draw(TRICKY)
    names = draw(st.permutations(list(fields)))
    dialect = draw(st.sampled_from(["xml", "json"]))
    if dialect == "json":
        members = ", ".join(f"{json.dumps(n)}: {json.dumps(fields[n])}" for n in names)
        if draw(st.booleans()):
            members += ", " + members.split(", ")[0]  # a repeated member
        text = "{" + members + "}"
        if draw(st.booleans()):
            text = '{"request": ' + text + "}"
    else:
        text = "<request>" + "".join(_member(n, fields[n]) for n in names) + "</request>"
    raw = text.encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, len(raw)))
    raw = draw(st.sampled_from([raw, raw[:cut], raw[:cut] + b"\xff" + raw[cut:]]))
    return dialect, raw


@FUZZ
@given(data=st.data())
def test_near_valid_documents(fuzzed: Running, data: st.DataObject) -> None:
    before = state(fuzzed)
    dialect, raw = data.draw(near_valid(fuzzed.login, fuzzed.password))
    form = data.draw(st.booleans())
    if form:
        body = b"request=" + quote_from_bytes(raw).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
    else:
        body, headers = raw, {"content-type": "text/xml"}
    response = fuzzed.client.post(f"/wapi/{dialect}", content=body, headers=headers)
    check(fuzzed, dialect, response)
    assert state(fuzzed) == before


def test_server_still_answers_after_fuzzing(fuzzed: Running) -> None:
    for body in (b"\x00" * 100, b"<request>" * 1000, b"{" * 60000):
        fuzzed.client.post("/wapi/xml", content=body)
        fuzzed.client.post("/wapi/json", content=body)
    still_answers(fuzzed)
    queue = call_until(
        lambda: fuzzed.tidings.mailbox(fuzzed.login).notifications,
        lambda q: len(q) == 1,
        what="queue",
    )
    assert queue[0].retrieved_by is not None
