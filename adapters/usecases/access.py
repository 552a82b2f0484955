"""Who may run a command on an account, and the checks of a library call's arguments.

A client over the network (`RemoteClient`) is let in by the domain's access rule inside
the unit of work of the command it runs; the backend itself is `Trusted`. Arguments are
checked before any unit of work, so a bad one changes nothing (`InvalidArgument`).
"""

from collections.abc import Callable
from typing import Any, TypeVar

from msgspec import Struct
from tidings.domain import ACCOUNT, Code
from tidings.domain import account as acc
from tidings.domain.access import Caller, Remote, Trusted, refusal

from ..errors import InvalidArgument, Rejected
from ..store.work import Work

__all__ = ["RemoteClient", "admitted", "existing", "instance", "integer", "remote", "text", "texts"]

T = TypeVar("T")


class RemoteClient(Struct, frozen=True, kw_only=True):
    """A client calling over the network, let in by the domain's access rule inside the
    unit of work of the command it runs (no read of the account before it): `proof`
    says whether its credentials match the stored account (None when the login is
    unknown: it should then cost the same work), `ip` is its address (None: unknown)."""

    proof: Callable[[acc.AccountState | None], bool]
    ip: str | None


def admitted(work: Work, login: str, client: RemoteClient | None) -> acc.AccountState:
    """The account, once the access rule lets the caller run a client command on it:
    `client` over the network, else the backend itself (`Trusted`)."""
    account = work.state(ACCOUNT, login)
    caller: Caller = Trusted()
    if client is not None:
        proven = client.proof(account if account.opened else None)
        caller = Remote(authenticated=proven, client_ip=client.ip)
    refused = refusal(account, caller)
    if refused is not None:
        raise Rejected.of(refused)
    return account


def remote(client: Any) -> "RemoteClient | None":
    """`client` when it is None or a `RemoteClient`; raises `InvalidArgument` otherwise."""
    if client is not None and not isinstance(client, RemoteClient):
        raise InvalidArgument(f"client must be a RemoteClient, not {type(client).__name__}")
    return client


def existing(work: Work, login: str) -> acc.AccountState:
    """The account; 2303 when it was never opened (suspended or not: these are the
    operator's calls, not the client's)."""
    account: acc.AccountState = work.state(ACCOUNT, login)
    if not account.opened:
        raise Rejected(Code.OBJECT_NOT_FOUND, f"account {login!r} does not exist")
    return account


def text(name: str, value: Any) -> str:
    """`value` when it is a `str`; raises `InvalidArgument` naming `name` otherwise."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, not {type(value).__name__}")
    return value


def instance(name: str, value: Any, kind: type[T] | tuple[type[T], ...]) -> T:
    """`value` when it is a `kind`; raises `InvalidArgument` naming `name` otherwise."""
    if not isinstance(value, kind):
        raise InvalidArgument(f"{name} must not be a {type(value).__name__}")
    return value


def texts(name: str, values: Any) -> tuple[str, ...]:
    """`values`, a tuple or list of `str`, as a tuple; raises `InvalidArgument`
    otherwise."""
    if not isinstance(values, tuple | list) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"{name} must be a tuple of strings")
    return tuple(values)


def integer(name: str, value: Any, *, least: int | None = None, most: int | None = None) -> int:
    """`value` when it is an `int` (not a bool) within `least`..`most`; raises
    `InvalidArgument` naming `name` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, not {type(value).__name__}")
    if (least is not None and value < least) or (most is not None and value > most):
        low = "" if least is None else f" from {least}"
        high = "" if most is None else f" to {most}"
        raise InvalidArgument(f"{name} must be{low}{high}, not {value}")
    return value
