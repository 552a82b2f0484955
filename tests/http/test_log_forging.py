"""What a client sends never forges or hides a line of the server's log: control
characters in a path, a login or a request id are escaped in the readable log (a bare
carriage return or a terminal escape would redraw the operator's terminal)."""

import json
import logging
from urllib.parse import quote

import pytest
from tidings.adapters.logs import JsonLines, Readable

from tests.http.conftest import Running

# No blank, quote or `=`: those alone made the readable log quote a value.
FORGED = "x\rERROR:forged\x1b[2K\x00\x85\u2028\tend"


def _lines(caplog: pytest.LogCaptureFixture, formatter: logging.Formatter) -> list[str]:
    return [formatter.format(record) for record in caplog.records]


@pytest.mark.parametrize("where", ["path", "login"])
def test_control_characters_a_client_sends_are_escaped_in_the_log(
    server: Running, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    caplog.set_level("INFO")
    if where == "path":
        server.client.get("/nothing/" + quote(FORGED))
    else:
        document = json.dumps({"user": FORGED, "auth": "0" * 40, "command": "ping"})
        server.wapi("json", document)
    for line in _lines(caplog, Readable()):
        assert line.isprintable(), repr(line)
    for line in _lines(caplog, JsonLines()):
        json.loads(line)
        assert "\r" not in line and "\x1b" not in line and "\x00" not in line, repr(line)
