"""A stored text as people are shown it: its control characters (a receiver's answer, a
reason typed elsewhere, a mail server's reply may hold NUL or a terminal's escapes) as
`\\xNN`, and the Unicode marks that change how a line reads as `\\uNNNN`, the same on the
shell's screen and on the pages."""

import functools

__all__ = ["controls_shown"]


# Unicode's direction marks, embeddings, overrides and isolates, and its line and
# paragraph separators: a stored text could make a line or a cell read otherwise than
# it is (a right-to-left override reverses what follows). Shown as `\\uNNNN`.
_DIRECTIONS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_SEPARATORS = (0x2028, 0x2029)


@functools.cache
def _table(keep: str) -> dict[int, str]:
    controls = (*range(0x20), *range(0x7F, 0xA0))
    table = {c: f"\\x{c:02x}" for c in controls if chr(c) not in keep}
    return table | {c: f"\\u{c:04x}" for c in (*_DIRECTIONS, *_SEPARATORS)}


def controls_shown(text: str, keep: str = "\t\n") -> str:
    """`text` with each control character but those of `keep` written `\\xNN`, and each
    Unicode direction mark or line separator `\\uNNNN`. A terminal keeps tab and line
    feed (a carriage return would write over the line); a page may keep the carriage
    return too, which HTML shows as a space."""
    return text.translate(_table(keep))
