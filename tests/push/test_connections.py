"""Which of the pushes' single-connection clients a request goes to."""

import anyio
from tidings.adapters.push.transport import Connections


def test_a_request_goes_to_a_free_client_already_connected_where_it_goes() -> None:
    connections = Connections(3)
    first = connections.take("a")
    connections.give_back(first, "a")
    elsewhere = connections.take("b")
    assert elsewhere != first  # a fresh client, not the one connected to "a"
    assert connections.take("a") == first
    anyio.run(connections.aclose)


def test_a_place_with_no_free_client_gets_the_one_free_longest() -> None:
    connections = Connections(2)
    a, b = connections.take("a"), connections.take("b")
    connections.give_back(b, "b")
    connections.give_back(a, "a")
    assert connections.take("c") == b  # released before a
    assert connections.take("d") == a
    anyio.run(connections.aclose)


def test_more_requests_than_clients_share_the_least_busy() -> None:
    connections = Connections(2)
    taken = [connections.take("a") for _ in range(4)]
    assert sorted(taken) == [0, 0, 1, 1]
    for chosen in taken:
        connections.give_back(chosen, "a")
    assert connections.take("a") in (0, 1)
    anyio.run(connections.aclose)
