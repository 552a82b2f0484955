"""Faults found by running the server as an operator would, each fixed and kept so:
the head cap counts the head only, query integers are range-checked, and every
connection past the cap is answered 503."""

import json
import socket
from pathlib import Path

import pytest
from tidings.adapters.http.limits import Limits

from tests.http.conftest import ADMIN_TOKEN, Running, serve, settings_for, wapi_auth


def _one_write(running: Running, path: str, body: bytes, content_type: str) -> bytes:
    """POST `body` with its head in one `sendall`, as http.client and httpx send it;
    the whole answer (head and its `content-length` of body). The connection stays
    open until the answer is read: a server that answers before reading the whole
    body and then closes resets the connection, which may drop the answer unread."""
    port = int(running.url.rsplit(":", 1)[1])
    head = (
        f"POST {path} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n"
        f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _answer_length(answer):
            chunk = conn.recv(65536)
            assert chunk, f"the server closed before answering in full: {answer[:200]!r}"
            answer += chunk
    return answer


def _answer_length(answer: bytes) -> int:
    """How long an answer whose head `answer` holds is, its body included."""
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4


def test_a_900_kib_api_body_in_one_write_is_not_counted_as_head(server: Running) -> None:
    init = {"method": "POST", "uri": "/x", "content_type": "text/plain",
            "client_ip": "192.0.2.1", "body": "x" * (900 * 1024)}  # fmt: skip
    body = json.dumps(
        {"login": server.login, "command": "big", "cltrid": "big-1", "init_request": init}
    ).encode()
    assert len(body) > 900 * 1024
    answer = _one_write(server, "/api/operations", body, "application/json")
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]


def test_a_wapi_body_over_its_cap_in_one_write_is_2007(server: Running) -> None:
    request = {"user": server.login, "auth": wapi_auth(server.login, server.password),
               "command": "ping", "clTRID": "x" * (70 * 1024)}  # fmt: skip
    answer = _one_write(
        server, "/wapi/json", json.dumps({"request": request}).encode(), "application/json"
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"x-wapi-code: 2007" in answer


def test_a_head_past_its_cap_is_still_431(server: Running) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nx-big: " + b"y" * (70 * 1024) + b"\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize(
    "query",
    [
        "after=9223372036854775807",
        "after=99999999999999999999999",
        "after=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
        "limit=9223372036854775807",
        "after=-1",
    ],
)
def test_integer_query_parameters_out_of_range_are_2101(server: Running, query: str) -> None:
    answer = server.admin("GET", f"/api/accounts?{query}")
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 2101


def test_the_largest_cursor_is_an_empty_page(server: Running) -> None:
    answer = server.admin("GET", "/api/accounts?after=9223372036854775806")
    assert answer.status_code == 200
    assert answer.json()["accounts"] == []


def test_every_connection_past_the_cap_is_answered_503(tmp_path: Path) -> None:
    settings = settings_for(str(tmp_path / "t.db"), limits=Limits(max_connections=5))
    with serve(settings) as running:
        port = int(running.url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        extra = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
        try:
            for conn in extra:  # answered without sending anything, then closed
                answer = b""
                while chunk := conn.recv(4096):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 503"), answer
        finally:
            for conn in idle + extra:
                conn.close()
