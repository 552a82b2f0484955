"""What the push runner needs of the library, as a typed interface: `Tidings` provides
it, and the runner depends on this, not on the library (which depends on `push/`)."""

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from tidings.domain import BatchState, Notification
from tidings.domain import delivery as dlv
from tidings.domain.operation import OperationState

from ..store.application import LogEntry
from .guard import AddressGuard
from .views import Attempted, Claim, Held

__all__ = ["DeliveryCommands", "LogReader"]


class LogReader(Protocol):
    """The log, read from a position on (see `Tidings.log`, `Tidings.last_position`)."""

    def last_position(self) -> int: ...

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]: ...


class DeliveryCommands(LogReader, Protocol):
    """The library's calls the push runner makes (see `Tidings`' methods of the same
    names)."""

    @property
    def guard(self) -> AddressGuard: ...

    def minted_here(self, svtrid: str) -> bool: ...

    def settle_attempts(
        self,
        attempts: Sequence[Attempted],
        wanted: Sequence[tuple[str, int]],
        *,
        claimant: str,
    ) -> tuple[list[dlv.DeliveryState | None], list[Claim | Held | None]]: ...

    async def operation_async(self, svtrid: str) -> OperationState | None: ...

    async def end_async(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Notification: ...
