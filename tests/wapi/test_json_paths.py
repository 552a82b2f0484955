"""A JSON request reads the same whichever way it is read: a plain text (no backslash)
may be decoded in C (straight into the usual request's struct, or as any JSON), the same
document with its slashes escaped is read by Python's parser with every check; both
give the same request or the same refusal."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.adapters.wapi.request import Dialect, WapiError, parse_request

_KEYS = st.sampled_from(["user", "USER", "auth", "command", "clTRID", "data", "test", "a:b", "id"])
_SCALARS = st.one_of(
    st.text(alphabet="ab:/ \u00e9\U0001f600", max_size=6),
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@st.composite
def _values(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON text of a value; objects may repeat a key, which no dict can hold."""
    if depth > 13 or draw(st.booleans()):
        return _text(draw(_SCALARS))
    if draw(st.booleans()):
        items = draw(st.lists(_values(depth + 1), max_size=3))
        return "[" + ",".join(items) + "]"
    members = draw(st.lists(st.tuples(_KEYS, _values(depth + 1)), max_size=5))
    return "{" + ", ".join(f"{_text(k)}: {v}" for k, v in members) + "}"


@st.composite
def _requests(draw: st.DrawFn) -> str:
    members = [
        ("user", _text(draw(st.sampled_from(["t", "a:/b", ""])))),
        ("auth", _text("x/y")),
        ("command", _text(draw(st.sampled_from(["poll-ack", "ping", "a:b"])))),
        *draw(st.lists(st.tuples(_KEYS, _values()), max_size=4)),
    ]
    order = draw(st.permutations(members))
    inner = "{" + ",".join(f"{_text(k)}:{v}" for k, v in order) + "}"
    return '{"request": ' + inner + "}" if draw(st.booleans()) else inner


def _outcome(text: str) -> object:
    try:
        return parse_request(Dialect.JSON, text.encode(), "application/json")
    except WapiError as error:
        return (error.code, error.cltrid, error.command)


@settings(max_examples=400, deadline=None)
@given(_requests())
def test_a_plain_request_reads_as_its_escaped_twin(text: str) -> None:
    assert "\\" not in text and "/" in text
    assert _outcome(text) == _outcome(text.replace("/", "\\/"))


_USUAL_VALUES = {
    "user": st.sampled_from(['"t/"', '""', "null", "5"]),
    "auth": st.sampled_from(['"x/y"', '""']),
    "command": st.sampled_from(['"poll-ack/"', '"ping"', "[]"]),
    "clTRID": st.sampled_from(['"c/"', '""', "null", "7", f'"{"/" * 64}"', f'"{"/" * 65}"']),
    "data": st.sampled_from(['{"id": "5/"}', "{}", "null", "[]", '"/"', '{"a": {"b:/": [1]}}']),
    "test": st.sampled_from(["true", '"/"']),
}


@st.composite
def _usual(draw: st.DrawFn) -> str:
    """The usual request's shape: its fields in their usual spelling, some missing,
    repeated, null or of another type."""
    names = draw(st.lists(st.sampled_from(sorted(_USUAL_VALUES)), min_size=3, max_size=7))
    members = [f'"{name}": {draw(_USUAL_VALUES[name])}' for name in names]
    other = ', "x/": 1' if draw(st.integers(0, 4)) == 0 else ""  # a field of no request
    return '{"request": {' + ", ".join(members) + "}" + other + "}"


@settings(max_examples=400, deadline=None)
@given(_usual())
def test_the_usual_request_reads_as_its_escaped_twin(text: str) -> None:
    assert _outcome(text) == _outcome(text.replace("/", "\\/"))
