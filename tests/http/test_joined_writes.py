"""One socket write per answer: a head and a body written in one turn leave together, a
lone write leaves at the end of its turn, and nothing is reordered or lost at close."""

import asyncio

from tidings.adapters.http.limits import JoinedWrites


class _Recorded(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_and_its_body_leave_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        sent = _Recorded()
        joined = JoinedWrites(sent, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"body")
        await asyncio.sleep(0)
        return sent.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


def test_a_lone_write_leaves_at_the_end_of_its_turn_in_order() -> None:
    async def scenario() -> list[list[bytes]]:
        sent = _Recorded()
        joined = JoinedWrites(sent, asyncio.get_running_loop())
        joined.write(b"head")
        before = list(sent.writes)
        await asyncio.sleep(0)
        after_turn = list(sent.writes)
        joined.write(b"one")
        joined.write(b"two")
        joined.write(b"three")
        await asyncio.sleep(0)
        return [before, after_turn, sent.writes]

    before, after_turn, finally_sent = asyncio.run(scenario())
    assert before == [] and after_turn == [b"head"]
    assert b"".join(finally_sent) == b"headonetwothree"


def test_close_sends_what_is_held_first() -> None:
    async def scenario() -> tuple[list[bytes], bool]:
        sent = _Recorded()
        joined = JoinedWrites(sent, asyncio.get_running_loop())
        joined.write(b"bye")
        joined.close()
        await asyncio.sleep(0)
        return sent.writes, sent.closed

    assert asyncio.run(scenario()) == ([b"bye"], True)
