"""The endings of the operations the server runs itself (`ping-async`, Merchants jobs),
made by the due-work runner when their rule's delay after acceptance has passed. Ending
twice is refused by the operation (2304), so the first runner wins, with no claim."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tidings.domain import Code
from tidings.domain.operation import OperationState
from tidings.domain.serverrun import Ending, awaiting_ending

from ..errors import Rejected
from .index import DueIndex
from .port import DeliveryCommands

__all__ = ["Ending", "EndingRule", "Endings"]


@dataclass(frozen=True, slots=True)
class EndingRule:
    """How long after acceptance an operation of one command ends, and how: an `Ending`
    the same for every operation of the command, or one made from its state."""

    delay: float
    ending: Ending | Callable[[OperationState], Ending]


class Endings:
    """Ends the operations of the commands `rules` names as they fall due in `index`."""

    def __init__(
        self, tidings: DeliveryCommands, rules: Mapping[str, EndingRule], index: DueIndex
    ) -> None:
        self._tidings = tidings
        self._rules = rules
        self._index = index
        self.ended = 0  # for tests and the bench

    async def end(self, svtrid: str) -> None:
        """End the operation `svtrid` by its command's rule, unless it ended already."""
        # A fixed ending needs no read: one ended meanwhile refuses it (2304), as below.
        fixed = self._rules.get(self._index.command(svtrid) or "")
        if fixed is not None and isinstance(fixed.ending, Ending):
            ending = fixed.ending
        else:
            operation = await self._tidings.operation_async(svtrid)
            accepted = None if operation is None else awaiting_ending(operation)
            if operation is None or accepted is None:
                self._index.schedule("ending", svtrid, None)
                return
            rule = self._rules[accepted.command].ending
            ending = rule if isinstance(rule, Ending) else rule(operation)

        try:
            await self._tidings.end_async(
                svtrid, ending.code, ending.result, data=ending.data, batch_state=ending.batch_state
            )
            self.ended += 1
        except Rejected as rejected:
            if rejected.code != Code.STATUS_PROHIBITS:  # 2304: another process ended it
                raise
        self._index.schedule("ending", svtrid, None)
