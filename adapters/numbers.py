"""Whole numbers as clients and people type them: in paths, query strings and forms.

`str.isdigit` also holds for digits outside ASCII ("²", Arabic-Indic digits), which
`int` refuses or reads as another number, and `int` refuses a text of more than 4300
digits; ids and log positions are 64-bit in both stores. `whole_number` is the one
reading of such a text, so none of those reaches a store or becomes a server error.
"""

__all__ = ["LARGEST", "whole_number"]

# Ids and positions are 64-bit signed in both stores, and a cursor is read one past itself.
LARGEST = 2**63 - 2


def whole_number(raw: str, largest: int = LARGEST) -> int | None:
    """`raw` as a whole number 0..`largest` written in ASCII digits; None otherwise."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(largest)):
        return None
    value = int(raw)
    return value if value <= largest else None
