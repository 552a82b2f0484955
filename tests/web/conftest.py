"""The web pages' tests share the HTTP tests' real server (`tests.http.conftest`)."""

from collections.abc import Iterator

import pytest

from tests.http.conftest import Running, server, shared_server
from tests.web.client import WebClient

__all__ = ["server", "shared_server", "web"]


@pytest.fixture
def web(server: Running) -> Iterator[WebClient]:
    """A fresh browser on the module's server (account `server.login`)."""
    yield WebClient(server.client)
