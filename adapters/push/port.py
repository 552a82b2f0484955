"""What the push runner needs of the library, as a typed interface (`push/` may not
import the library, which imports it)."""

from collections.abc import Sequence
from typing import Any, Protocol

from tidings.domain import BatchState, Notification
from tidings.domain import delivery as dlv
from tidings.domain.operation import OperationState

from ..store.application import Store
from .transport import AddressGuard
from .views import Attempted, Claim, Held

__all__ = ["DeliveryCommands"]


class DeliveryCommands(Protocol):
    """The library's calls the push runner makes (`Tidings`' of the same names)."""

    @property
    def guard(self) -> AddressGuard: ...

    @property
    def store(self) -> Store: ...

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
