"""Checks of the arguments the library's calls take: each returns the value it was
given or raises `InvalidArgument` naming the argument, before anything is done."""

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from tidings.domain.account import AccountState

from ..errors import InvalidArgument

__all__ = ["LAST_POSITION", "RemoteClient", "instance", "remote", "text", "texts", "unicode"]

T = TypeVar("T")
# Log positions are 64-bit signed in both stores: a larger one is no position.
LAST_POSITION = 2**63 - 1


def text(name: str, value: Any) -> str:
    """`value` when it is a `str` of Unicode text (see `unicode`)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, not {type(value).__name__}")
    return value if value.isascii() else unicode(name, value)


def unicode(name: str, value: T) -> T:
    """`value` (a text, or a struct, dict or tuple of them) when every text in it is
    Unicode: a lone surrogate, which no event can hold, would fail a whole batch."""
    try:
        msgspec.json.encode(value)
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} holds text that is not Unicode (a lone surrogate)") from None
    return value


def instance(name: str, value: Any, kind: type[T] | tuple[type[T], ...]) -> T:
    """`value` when it is a `kind`."""
    if not isinstance(value, kind):
        raise InvalidArgument(f"{name} must not be a {type(value).__name__}")
    return value


def texts(name: str, values: Any) -> tuple[str, ...]:
    """`values`, a tuple or list of `str`, as a tuple."""
    if not isinstance(values, tuple | list) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"{name} must be a tuple of strings")
    return tuple(text(name, value) for value in values)


class RemoteClient(msgspec.Struct, frozen=True, kw_only=True):
    """A client calling over the network, let in by the domain's access rule inside the
    unit of work of the command it runs (no read of the account before it): `proof`
    says whether its credentials match the stored account (None when the login is
    unknown: it should then cost the same work), `ip` is its address (None: unknown)."""

    proof: Callable[[AccountState | None], bool]
    ip: str | None


def remote(client: Any) -> "RemoteClient | None":
    """`client` when it is None or a `RemoteClient`."""
    if client is not None and not isinstance(client, RemoteClient):
        raise InvalidArgument(f"client must be a RemoteClient, not {type(client).__name__}")
    return client
