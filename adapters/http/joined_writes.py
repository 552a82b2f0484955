"""One socket write per answer: the transport uvicorn writes a response to.

uvicorn writes a response's head and its body with a write (a system call) each.
`JoinedWrites` holds a write until the next one, which leaves with it, or until the
event loop's next turn: an answer sent at once leaves in one write, and a streamed one
loses no time. At most one write is held, so the bytes keep their order.
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
