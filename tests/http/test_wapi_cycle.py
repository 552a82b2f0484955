"""WAPI over HTTP: the spec's examples and the full poll cycle, in both dialects."""

import json
import re
from typing import Any

import pytest
from tidings.domain import UrlChannel

from tests.http.conftest import PING_DELAY, Running, call_until, serve, settings_for, wapi_auth


def xml_request(command: str, cltrid: str, data: str = "", login: str = "tester") -> str:
    """A request laid out like the spec's examples, with a valid token (password 123456)."""
    auth = wapi_auth(login, "123456")
    return (
        f"<request>\n <user>{login}</user>\n <auth>{auth}</auth>\n <command>{command}</command>\n"
        f"{data} <clTRID>{cltrid}</clTRID>\n</request>"
    )


def json_request(login: str, command: str, cltrid: str, data: Any = None) -> str:
    request: dict[str, Any] = {
        "user": login,
        "auth": wapi_auth(login, "123456"),
        "command": command,
        "clTRID": cltrid,
    }
    if data is not None:
        request["data"] = data
    return json.dumps({"request": request})


def normalised(xml: str) -> str:
    """The document with its variable values (times, svTRIDs) replaced by placeholders."""
    xml = re.sub(r"<timestamp>\d+</timestamp>", "<timestamp>T</timestamp>", xml)
    return re.sub(r"<svTRID>\d+\.\d+\.\d+</svTRID>", "<svTRID>S</svTRID>", xml)


def test_ping(server: Running) -> None:
    response = server.wapi("xml", xml_request("ping", "ping-1", login=server.login))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert normalised(response.text) == (
        "<response>\n <code>1000</code>\n <result>OK</result>\n <timestamp>T</timestamp>\n"
        " <clTRID>ping-1</clTRID>\n <svTRID>S</svTRID>\n <command>ping</command>\n</response>"
    )


def test_spec_examples_round_trip(server: Running) -> None:
    """The notification spec's ping-async, then the poll-req spec's two examples."""
    pending = server.wapi("xml", xml_request("ping-async", "AvrX87Kqk6h3", login=server.login))
    assert normalised(pending.text) == (
        "<response>\n <code>1001</code>\n <result>Request pending</result>\n"
        " <timestamp>T</timestamp>\n <clTRID>AvrX87Kqk6h3</clTRID>\n <svTRID>S</svTRID>\n"
        " <command>ping-async</command>\n</response>"
    )
    svtrid = re.search(r"<svTRID>(.+)</svTRID>", pending.text)
    assert svtrid is not None

    text = call_until(
        lambda: (
            server.wapi("xml", xml_request("poll-req", "LtVxXV9wLSWw", login=server.login)).text
        ),
        lambda text: "<code>1000</code>" in text,
        what="the ping-async notification",
    )
    assert f"<svTRID>{svtrid[1]}</svTRID>" in text  # the notify names the operation
    assert re.sub(r"<id>\d+</id>", "<id>N</id>", normalised(text)) == (
        "<response>\n <code>1000</code>\n <result>OK</result>\n <timestamp>T</timestamp>\n"
        " <clTRID>LtVxXV9wLSWw</clTRID>\n <svTRID>S</svTRID>\n <command>poll-req</command>\n"
        " <data>\n  <notify>\n   <code>1000</code>\n   <result>OK</result>\n"
        "   <timestamp>T</timestamp>\n   <clTRID>AvrX87Kqk6h3</clTRID>\n   <svTRID>S</svTRID>\n"
        "   <command>ping-async</command>\n   <id>N</id>\n  </notify>\n </data>\n</response>"
    )
    ident = re.search(r"<id>(\d+)</id>", text)
    assert ident is not None
    acked = server.wapi(
        "xml",
        xml_request(
            "poll-ack", "ack-1", f" <data>\n  <id>{ident[1]}</id>\n </data>\n", server.login
        ),
    )
    assert "<code>1002</code>" in acked.text
    empty = server.wapi("xml", xml_request("poll-req", "qQn32fUNTsfN", login=server.login))
    assert normalised(empty.text) == (
        "<response>\n <code>1003</code>\n <result>Empty notifications queue</result>\n"
        " <timestamp>T</timestamp>\n <clTRID>qQn32fUNTsfN</clTRID>\n <svTRID>S</svTRID>\n"
        " <command>poll-req</command>\n</response>"
    )


@pytest.mark.parametrize("how", ["urlencoded", "multipart", "raw"])
def test_full_cycle_xml(server: Running, how: str) -> None:
    def send(document: str) -> str:
        if how == "urlencoded":
            response = server.wapi("xml", document)
        elif how == "multipart":
            response = server.client.post("/wapi/xml", files={"request": (None, document)})
        else:
            response = server.client.post(
                "/wapi/xml", content=document, headers={"content-type": "text/xml"}
            )
        assert response.status_code == 200
        return response.text

    assert "<code>1001</code>" in send(xml_request("ping-async", "c-1", login=server.login))
    assert "<code>1003</code>" in send(
        xml_request("poll-req", "c-2", login=server.login)
    )  # not ended yet
    text = call_until(
        lambda: send(xml_request("notify-poll-req", "c-3", login=server.login)),
        lambda text: "<code>1000</code>" in text,
        what="the notification",
    )
    ident = re.search(r"<id>(\d+)</id>", text)
    assert ident is not None and "<clTRID>c-1</clTRID>" in text
    ack = f" <data><id>{ident[1]}</id></data>\n"
    assert "<code>1002</code>" in send(
        xml_request("notify-poll-ack", "c-4", ack, login=server.login)
    )
    assert "<code>1003</code>" in send(xml_request("poll-req", "c-5", login=server.login))


def test_full_cycle_json(server: Running) -> None:
    def send(document: str) -> dict[str, Any]:
        response = server.wapi("json", document)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        answer: dict[str, Any] = response.json()["response"]
        return answer

    pending = send(json_request(server.login, "ping-async", "j-1"))
    assert pending["code"] == 1001 and isinstance(pending["timestamp"], int)
    assert pending["clTRID"] == "j-1" and isinstance(pending["svTRID"], str)
    assert "data" not in pending
    polled = call_until(
        lambda: send(json_request(server.login, "poll-req", "j-2", data=[])),
        lambda answer: answer["code"] == 1000,
        what="the notification",
    )
    notify = polled["data"]["notify"]
    assert notify == {
        "code": 1000,
        "result": "OK",
        "timestamp": notify["timestamp"],
        "clTRID": "j-1",
        "svTRID": pending["svTRID"],
        "command": "ping-async",
        "id": notify["id"],
    }
    assert isinstance(notify["id"], int) and isinstance(notify["timestamp"], int)
    assert notify["timestamp"] >= pending["timestamp"]
    acked = send(json_request(server.login, "poll-ack", "j-3", data={"id": notify["id"]}))
    assert (acked["code"], acked["result"]) == (1002, "Notification acquired")
    again = send(json_request(server.login, "poll-ack", "j-4", data={"id": str(notify["id"])}))
    assert again["code"] == 1002  # a lost answer can be retried
    empty = send(json_request(server.login, "poll-req", "j-5"))
    assert empty["code"] == 1003 and "data" not in empty


def test_json_raw_body_without_wrapper_and_test_flag(server: Running) -> None:
    request = {
        "user": server.login,
        "auth": wapi_auth(server.login, "123456"),
        "command": "ping",
        "clTRID": " exact  ",
        "test": "1",
    }
    response = server.client.post("/wapi/json", json=request)
    assert response.json()["response"]["code"] == 1000
    assert response.json()["response"]["clTRID"] == " exact  "


def test_ping_async_ends_through_the_operation_path(server: Running) -> None:
    text = server.wapi("xml", xml_request("ping-async", "trail-me", login=server.login)).text
    svtrid = re.search(r"<svTRID>(.+)</svTRID>", text)
    assert svtrid is not None
    kinds = call_until(
        lambda: [entry.kind for entry in server.tidings.trail(svtrid[1])],
        lambda kinds: "NotificationQueued" in kinds,
        what="the ending",
    )
    assert kinds[:3] == ["OperationAccepted", "OperationEnded", "NotificationQueued"]
    assert [e.kind for e in server.tidings.trail(cltrid="trail-me")] == kinds  # by clTRID too
    operation = server.tidings.operation(svtrid[1])
    assert operation is not None and operation.ended is not None
    assert operation.accepted is not None
    waited = (operation.ended.at - operation.accepted.at).total_seconds()
    assert waited >= PING_DELAY - 0.05


def test_pending_ping_async_is_ended_after_a_restart(db_url: str) -> None:
    with serve(settings_for(db_url, ping_delay=3600)) as first:
        first.tidings.open_account("tester", "123456")
        text = first.wapi("xml", xml_request("ping-async", "survives")).text
        assert "<code>1001</code>" in text
    # The first server stopped with the operation pending; the next start ends it.
    with serve(settings_for(db_url, ping_delay=0.05)) as second:
        polled = call_until(
            lambda: second.wapi("xml", xml_request("poll-req", "p")).text,
            lambda text: "<code>1000</code>" in text,
            what="the ending after restart",
        )
        assert "<clTRID>survives</clTRID>" in polled
        assert second.tidings.pending_operations() == []


def test_poll_on_a_push_account_is_2150(server: Running) -> None:
    server.tidings.configure_channel(server.login, UrlChannel(success_url="https://example.com/n"))
    text = server.wapi("xml", xml_request("poll-req", "p", login=server.login)).text
    assert "<code>2150</code>" in text
    text = server.wapi(
        "xml", xml_request("poll-ack", "p", " <data><id>1</id></data>\n", login=server.login)
    ).text
    assert "<code>2150</code>" in text


def test_healthz(server: Running) -> None:
    response = server.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
