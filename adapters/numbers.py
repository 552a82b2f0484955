"""Whole numbers as clients and people type them (paths, query strings, forms): ASCII
digits only (`str.isdigit` also holds for "²"), at most a 64-bit id, so none of those
reaches a store or becomes a server error."""

__all__ = ["LARGEST", "whole_number"]

# Ids and positions are 64-bit signed in both stores, and a cursor is read one past itself.
LARGEST = 2**63 - 2


def whole_number(raw: str, largest: int = LARGEST) -> int | None:
    """`raw` as a whole number 0..`largest` written in ASCII digits; None otherwise."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(largest)):
        return None
    value = int(raw)
    return value if value <= largest else None
