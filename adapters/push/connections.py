"""The pushes' connections: one `httpx.AsyncClient` per connection, and which one a
request takes.

httpcore's pool does, for every request and every release, a pass over all of its
connections, polling each idle one's socket, and two requests arriving in one turn of
the loop may be handed the same idle connection (one then goes round again). With many
pushes in flight through pools of several connections, that costs more than the
requests themselves (docs/decisions.md, the bench's push row). A pool of one connection
has nothing to pass over, and a request only ever goes to a client no other request is
using.

A request goes to a free client whose connection is to the same place (so a receiver's
connection, and its TLS session, is reused), else to the free client released longest
ago, whose connection to elsewhere its pool then replaces.
"""

import socket
from importlib.metadata import version
from typing import Any

import httpx

__all__ = ["NODELAY", "USER_AGENT", "Connections", "single_connection_clients"]

# What a receiver's logs see pushing to it (not `python-httpx/...`).
USER_AGENT = f"tidings/{version('tidings')}"

# Headers and body leave in separate writes: without TCP_NODELAY the body waits for the
# receiver's delayed ACK.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def single_connection_clients(count: int, **options: Any) -> list[httpx.AsyncClient]:
    """`count` clients that keep one connection each (`options` go to every client),
    saying `User-Agent: tidings/<version>` unless `options` give headers of their own.
    They share one TLS context: loading the CA bundle takes 40 ms of CPU each time."""
    options.setdefault("headers", {"User-Agent": USER_AGENT})
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = httpx.create_ssl_context()
    return [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(verify=tls, socket_options=NODELAY, limits=limits),
            **options,
        )
        for _ in range(max(1, count))
    ]


class Connections:
    """`count` single-connection clients; `take` one for a request to `place` (any string
    naming where its connection goes), `give_back` it when the request is done. More
    requests at once than clients share the least busy (its pool queues them)."""

    def __init__(self, count: int, **options: Any) -> None:
        self.clients = single_connection_clients(count, **options)
        self._load = [0] * len(self.clients)
        # Free clients -> where their connection goes (None: nowhere yet), in order of
        # release; and the same, by place.
        self._free: dict[int, str | None] = dict.fromkeys(range(len(self.clients)))
        self._free_to: dict[str, dict[int, None]] = {}

    def take(self, place: str) -> int:
        """The index of the client to send a request to `place` through."""
        if place in self._free_to:
            chosen = next(iter(self._free_to[place]))
            self._unfree(chosen, place)
        elif self._free:
            chosen = next(iter(self._free))
            self._unfree(chosen, self._free[chosen])
        else:
            chosen = self._load.index(min(self._load))
        self._load[chosen] += 1
        return chosen

    def _unfree(self, chosen: int, place: str | None) -> None:
        del self._free[chosen]
        if place is not None:
            same = self._free_to[place]
            del same[chosen]
            if not same:  # places come and go: keep only those with a free client
                del self._free_to[place]

    def give_back(self, chosen: int, place: str) -> None:
        """The request `take` sent through client `chosen` is done."""
        self._load[chosen] -= 1
        if self._load[chosen] == 0:
            self._free[chosen] = place
            self._free_to.setdefault(place, {})[chosen] = None

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
