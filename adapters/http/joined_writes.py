"""One socket write per answer: the transport uvicorn writes a response to.

uvicorn writes a response's head and its body with a write each, and every write to a
writable socket is a system call of its own. `JoinedWrites` holds a write until the
next one, which leaves with it, or until the event loop's next turn: an answer whose
body is sent at once (every WAPI answer, every Starlette `Response`) leaves in one
write, and a streamed one loses no time (its head leaves at the end of the turn that
wrote it). The order of the bytes never changes: at most one write is held, and the
next write or the close sends it first.
"""

import asyncio
from typing import Any

__all__ = ["JoinedWrites"]


class JoinedWrites(asyncio.Transport):
    """`transport` with its writes joined as the module says; what else a response
    cycle asks of a transport (closing, whether it closes) goes to `transport`."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._held = None
        self._transport.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)
