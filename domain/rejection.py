"""A decision that refuses a command: a value, never an exception."""

from msgspec import Struct

from .codes import Code

__all__ = ["Rejection", "reject"]


class Rejection(Struct, frozen=True, gc=False):
    """Why a command was refused. `text` is the code's text, or a more precise reason."""

    code: Code
    text: str


def reject(code: Code, detail: str | None = None) -> Rejection:
    """A rejection with the code's own text, or `detail` when the caller can say more."""
    return Rejection(code, detail if detail is not None else code.text)
