"""Writing WAPI documents: byte for byte the shapes of the spec's examples."""

import json
from datetime import UTC, datetime

from tidings.adapters.push.payload import notify_fields, render_notify
from tidings.adapters.wapi.request import Dialect, WapiReply
from tidings.adapters.wapi.response import render_reply
from tidings.domain import Notification, Outcome

PENDING = WapiReply(
    code=1001,
    result="Request pending",
    timestamp=1286957874,
    cltrid="AvrX87Kqk6h3",
    svtrid="1286957874.1271.15706",
    command="ping-async",
)
SPEC_PENDING = b"""<response>
 <code>1001</code>
 <result>Request pending</result>
 <timestamp>1286957874</timestamp>
 <clTRID>AvrX87Kqk6h3</clTRID>
 <svTRID>1286957874.1271.15706</svTRID>
 <command>ping-async</command>
</response>"""


def notification(**changes: object) -> Notification:
    fields: dict[str, object] = {
        "code": 1000,
        "result": "OK",
        "timestamp": datetime.fromtimestamp(1286957040, UTC),
        "cltrid": "RKUFhhe5q8qw",
        "svtrid": "1286957032.2043.21543",
        "command": "ping-async",
    }
    fields.update(changes)
    return Notification(id=2691, outcome=Outcome(**fields))  # type: ignore[arg-type]


SPEC_POLL = b"""<response>
 <code>1000</code>
 <result>OK</result>
 <timestamp>1286962195</timestamp>
 <clTRID>LtVxXV9wLSWw</clTRID>
 <svTRID>1286962195.3105.9108.1</svTRID>
 <command>poll-req</command>
 <data>
  <notify>
   <code>1000</code>
   <result>OK</result>
   <timestamp>1286957040</timestamp>
   <clTRID>RKUFhhe5q8qw</clTRID>
   <svTRID>1286957032.2043.21543</svTRID>
   <command>ping-async</command>
   <id>2691</id>
  </notify>
 </data>
</response>"""
POLL = WapiReply(
    code=1000,
    result="OK",
    timestamp=1286962195,
    cltrid="LtVxXV9wLSWw",
    svtrid="1286962195.3105.9108.1",
    command="poll-req",
    data={"notify": notify_fields(notification())},
)


def test_pending_response_is_the_spec_example() -> None:
    assert render_reply(PENDING, Dialect.XML) == SPEC_PENDING


def test_poll_response_with_notify_is_the_spec_example() -> None:
    assert render_reply(POLL, Dialect.XML) == SPEC_POLL


def test_empty_queue_response_is_the_spec_example() -> None:
    reply = WapiReply(
        code=1003,
        result="Empty notifications queue",
        timestamp=1286962852,
        cltrid="qQn32fUNTsfN",
        svtrid="1286962852.1843.9155.1",
        command="poll-req",
        data={},
    )
    assert render_reply(reply, Dialect.XML) == (
        b"<response>\n <code>1003</code>\n <result>Empty notifications queue</result>\n"
        b" <timestamp>1286962852</timestamp>\n <clTRID>qQn32fUNTsfN</clTRID>\n"
        b" <svTRID>1286962852.1843.9155.1</svTRID>\n <command>poll-req</command>\n</response>"
    )


def test_pushed_notify_is_the_spec_example_with_upper_case_id() -> None:
    pushed = notification(
        timestamp=datetime.fromtimestamp(1286957932, UTC),
        cltrid="AvrX87Kqk6h3",
        svtrid="1286957874.1271.15706",
    )
    assert render_notify(pushed) == (
        b"<notify>\n <code>1000</code>\n <result>OK</result>\n <timestamp>1286957932</timestamp>\n"
        b" <clTRID>AvrX87Kqk6h3</clTRID>\n <svTRID>1286957874.1271.15706</svTRID>\n"
        b" <command>ping-async</command>\n <ID>2691</ID>\n</notify>"
    )


def test_json_response_types() -> None:
    document = json.loads(render_reply(POLL, Dialect.JSON))
    assert document == {
        "response": {
            "code": 1000,
            "result": "OK",
            "timestamp": 1286962195,
            "clTRID": "LtVxXV9wLSWw",
            "svTRID": "1286962195.3105.9108.1",
            "command": "poll-req",
            "data": {
                "notify": {
                    "code": 1000,
                    "result": "OK",
                    "timestamp": 1286957040,
                    "clTRID": "RKUFhhe5q8qw",
                    "svTRID": "1286957032.2043.21543",
                    "command": "ping-async",
                    "id": 2691,
                }
            },
        }
    }
    assert list(document["response"]) == [
        "code", "result", "timestamp", "clTRID", "svTRID", "command", "data"
    ]  # fmt: skip


def test_absent_cltrid_command_and_empty_data_are_left_out() -> None:
    reply = WapiReply(code=2000, result="Request parse error", timestamp=1, svtrid="1.2.3", data={})
    assert json.loads(render_reply(reply, Dialect.JSON)) == {
        "response": {
            "code": 2000,
            "result": "Request parse error",
            "timestamp": 1,
            "svTRID": "1.2.3",
        }
    }
    assert b"clTRID" not in render_reply(reply, Dialect.XML)


def test_cltrid_is_escaped_in_xml_and_echoed_exactly_in_json() -> None:
    reply = WapiReply(code=1000, result="OK", timestamp=1, svtrid="s", cltrid=' <&>" x ')
    assert b'<clTRID> &lt;&amp;&gt;" x </clTRID>' in render_reply(reply, Dialect.XML)
    assert json.loads(render_reply(reply, Dialect.JSON))["response"]["clTRID"] == ' <&>" x '


def test_notification_data_is_carried_and_made_safe_for_xml() -> None:
    odd = notification(data={"ok": True, "n": 3, "_1.key": "\x00x", "list": [1, 2]})
    fields = notify_fields(odd)
    assert list(fields) == [
        "code", "result", "timestamp", "clTRID", "svTRID", "command", "data", "id"
    ]  # fmt: skip
    xml = render_notify(odd).decode()
    assert "<ok>1</ok>" in xml and "<n>3</n>" in xml
    assert "<_1.key>\ufffdx</_1.key>" in xml
    assert "<list>1</list>" in xml and "<list>2</list>" in xml
