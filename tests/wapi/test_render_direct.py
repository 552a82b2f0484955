"""The WAPI documents written directly are, byte for byte, those xmltodict wrote: every
response and notify document over many generated notifications, data included (odd
XML names as keys, characters XML cannot carry, markup, nesting, lists, empty values)."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.adapters.push.payload import notify_fields, render_notify
from tidings.adapters.wapi.request import NOT_XML, Dialect, WapiReply
from tidings.adapters.wapi.response import render_reply
from tidings.domain import Code, Notification
from tidings.domain.values import Outcome


def _xml_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _xml_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_xml_value(item) for item in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return NOT_XML.sub("\ufffd", str(value))


def _old(root: str, fields: dict[str, Any]) -> bytes:
    """How the documents were written: xmltodict's pretty `unparse`."""
    text = xmltodict.unparse(
        {root: _xml_value(fields)}, pretty=True, indent=" ", newl="\n", full_document=False
    )
    return str(text).encode("utf-8")


_TEXT = st.text(
    st.one_of(st.sampled_from(list("<>&'\"\n\t \x00\x0b\ufffe]]>")), st.characters(codec="utf-8")),
    max_size=12,
)
# Only keys the domain accepts (`data_problem`): it refuses any other.
_KEYS = st.one_of(
    st.sampled_from(["id", "name", "a.b-c_d", "_x"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9._-]{0,11}", fullmatch=True),
)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=12,
)
_MOMENTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def _notifications(draw: st.DrawFn) -> Notification:
    outcome = Outcome(
        code=draw(st.integers(1000, 2999)),
        result=draw(_TEXT),
        timestamp=draw(_MOMENTS),
        cltrid=draw(_TEXT),
        svtrid=draw(_TEXT),
        command=draw(_TEXT),
        data=draw(st.one_of(st.none(), st.dictionaries(_KEYS, _DATA, max_size=4))),
    )
    return Notification(id=draw(st.integers(1, 2**63 - 1)), outcome=outcome)


@settings(max_examples=400, deadline=None)
@given(_notifications())
def test_a_pushed_notify_document_is_what_xmltodict_wrote(notification: Notification) -> None:
    fields = notify_fields(notification, id_name="ID")
    assert render_notify(notification) == _old("notify", fields)


def _reply(
    notification: Notification, cltrid: str | None, command: str | None, data: str
) -> tuple[WapiReply, dict[str, Any]]:
    """A reply (`data`: "notify", "empty" or "none") and its fields as they were written."""
    shown = {"notify": {"notify": notify_fields(notification)}, "empty": {}, "none": None}[data]
    reply = WapiReply(
        code=1000,
        result=notification.outcome.result,
        timestamp=1286957874,
        svtrid=notification.outcome.svtrid,
        cltrid=cltrid,
        command=command,
        data=shown,
    )
    fields: dict[str, Any] = {"code": 1000, "result": reply.result, "timestamp": 1286957874}
    if cltrid is not None:
        fields["clTRID"] = cltrid
    fields["svTRID"] = reply.svtrid
    if command is not None:
        fields["command"] = command
    if shown:
        fields["data"] = shown
    return reply, fields


_REPLIES = (
    _notifications(),
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), _TEXT),
    st.sampled_from(["notify", "empty", "none"]),
)


@settings(max_examples=400, deadline=None)
@given(*_REPLIES)
def test_a_response_document_is_what_xmltodict_wrote(
    notification: Notification, cltrid: str | None, command: str | None, data: str
) -> None:
    reply, fields = _reply(notification, cltrid, command, data)
    assert render_reply(reply, Dialect.XML) == _old("response", fields)


@settings(max_examples=400, deadline=None)
@given(*_REPLIES)
def test_a_json_response_is_its_fields_encoded(
    notification: Notification, cltrid: str | None, command: str | None, data: str
) -> None:
    """The reply struct encoded is the document its fields made, byte for byte."""
    reply, fields = _reply(notification, cltrid, command, data)
    assert render_reply(reply, Dialect.JSON) == msgspec.json.encode({"response": fields})


# Texts with nothing to escape or replace: the replies `render_reply` writes directly.
_PLAIN = st.text(st.characters(codec="utf-8", exclude_characters="<>&"), max_size=12).filter(
    lambda text: not NOT_XML.search(text)
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.integers(1000, 2999), st.sampled_from(list(Code))),
    _PLAIN,
    st.integers(0, 2**40),
    st.one_of(st.none(), _PLAIN),
    _PLAIN,
    st.one_of(st.none(), _PLAIN),
    st.sampled_from([None, {}]),
)
def test_a_plain_response_written_directly_is_what_xmltodict_wrote(
    code: int,
    result: str,
    timestamp: int,
    cltrid: str | None,
    svtrid: str,
    command: str | None,
    data: dict[str, Any] | None,
) -> None:
    reply = WapiReply(
        code=code,
        result=result,
        timestamp=timestamp,
        svtrid=svtrid,
        cltrid=cltrid,
        command=command,
        data=data,
    )
    fields: dict[str, Any] = {"code": code, "result": result, "timestamp": timestamp}
    if cltrid is not None:
        fields["clTRID"] = cltrid
    fields["svTRID"] = svtrid
    if command is not None:
        fields["command"] = command
    assert render_reply(reply, Dialect.XML) == _old("response", fields)
