"""WAPI requests on the wire as careless clients send them: pipelined on one connection,
chunked and split at any byte, with methods other than POST. Each request gets exactly
one answer, in order, with the code its document asks for; nothing is written."""

import json
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.http.conftest import Running, fuzz, log_length, wapi_auth

FUZZ = fuzz(40)


def _documents(server: Running) -> list[tuple[bytes, int]]:
    """Request bodies for /wapi/json and the code each is answered."""
    auth = wapi_auth(server.login, server.password)
    ping = {"user": server.login, "auth": auth, "command": "ping", "clTRID": "\u010d-1"}
    return [
        (json.dumps(ping).encode(), 1000),
        (json.dumps({**ping, "auth": "0" * 40}).encode(), 2050),
        (b"{", 2000),
        (b"", 2009),
        (json.dumps({**ping, "command": "poll-ack", "data": {"id": "9" * 5000}}).encode(), 2151),
        (json.dumps({**ping, "clTRID": "x" * 65}).encode(), 2005),
    ]


def _request(body: bytes, chunks: list[int] | None) -> bytes:
    head = b"POST /wapi/json HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    if chunks is None:
        return head + b"content-length: %d\r\n\r\n" % len(body) + body
    parts, rest = [], body
    for size in chunks:
        if rest:
            parts.append(rest[:size])
            rest = rest[size:]
    if rest:
        parts.append(rest)
    coded = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts if part)
    return head + b"transfer-encoding: chunked\r\n\r\n" + coded + b"0\r\n\r\n"


def _codes(reply: bytes) -> list[int]:
    """The WAPI code of each whole response in `reply` (head and body arrived)."""
    codes = []
    while b"\r\n\r\n" in reply:
        head, reply = reply.split(b"\r\n\r\n", 1)
        fields = dict(
            line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
        )
        length = int(fields.get(b"content-length", b"0"))
        if len(reply) < length:
            break
        reply = reply[length:]
        codes.append(int(fields.get(b"x-wapi-code", b"0")))
    return codes


def _exchange(server: Running, wire: bytes, splits: list[int], answers: int) -> bytes:
    """Send `wire` cut at `splits`, read until `answers` WAPI answers came (or EOF)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = 0
        for cut in sorted(set(splits)):
            sock.sendall(wire[start:cut])
            start = cut
        sock.sendall(wire[start:])
        reply = b""
        while len(_codes(reply)) < answers:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    return reply


@FUZZ
@given(data=st.data())
def test_pipelined_chunked_requests_are_each_answered_in_order(
    server: Running, data: st.DataObject
) -> None:
    documents = _documents(server)
    picked = data.draw(st.lists(st.sampled_from(documents), min_size=1, max_size=4))
    wire = b""
    for body, _ in picked:
        chunked = data.draw(st.booleans())
        sizes = data.draw(st.lists(st.integers(1, 40), max_size=6)) if chunked else None
        wire += _request(body, sizes)
    splits = data.draw(st.lists(st.integers(0, len(wire)), max_size=5))
    before = log_length(server)
    reply = _exchange(server, wire, splits, len(picked))
    assert _codes(reply) == [code for _, code in picked], reply[-400:]
    assert log_length(server) == before


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("dialect", ["xml", "json"])
def test_other_methods_than_post_are_not_allowed(
    server: Running, method: str, dialect: str
) -> None:
    before = log_length(server)
    answer = server.client.request(method, f"/wapi/{dialect}", content=b"{}")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert log_length(server) == before
