"""Checks of the arguments the library's calls take: each returns the value it was
given or raises `InvalidArgument` naming the argument, before anything is done."""

from typing import Any, TypeVar

import msgspec

from ..errors import InvalidArgument

__all__ = ["instance", "text", "texts", "unicode"]

T = TypeVar("T")


def text(name: str, value: Any) -> str:
    """`value` when it is a `str` of Unicode text; raises `InvalidArgument` naming `name`
    otherwise (a lone surrogate, which no event can hold, would fail the whole batch
    at its save)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, not {type(value).__name__}")
    return value if value.isascii() else unicode(name, value)


def unicode(name: str, value: T) -> T:
    """`value` (a text, or a struct, dict or tuple holding texts) when every text in it
    is Unicode; raises `InvalidArgument` naming `name` for a lone surrogate, which no
    event can hold: it would fail the whole batch at its save."""
    try:
        msgspec.json.encode(value)
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} holds text that is not Unicode (a lone surrogate)") from None
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
    return tuple(text(name, value) for value in values)
