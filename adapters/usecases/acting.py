"""An operator's action recorded in the unit of work of the action itself.

Every use case an operator can run takes `by` (`domain.operator.Actor`, None when the
caller is the backend itself) and calls `record` in its body: the action and its
`OperatorActed` are saved by one transaction, or neither is.
"""

from tidings.domain import OPERATOR
from tidings.domain import operator as opr

from ..store.work import Work

__all__ = ["By", "record"]

# The operator a call is recorded as; None: the backend's own call, recorded as nothing.
By = opr.Actor | None


def record(work: Work, by: By, login: str, detail: str = "") -> None:
    """Record `by`'s action on account `login` in `work` (nothing when `by` is None).
    Raises `Rejected` (2303 `by` is not an active operator), which drops the action."""
    if by is not None:
        work.must(OPERATOR, by.name, opr.acted(by, login, detail))
