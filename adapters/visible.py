"""A stored text as people are shown it: its control characters (a receiver's answer, a
reason typed elsewhere, a mail server's reply may hold NUL or a terminal's escapes) as
`\\xNN`, the same on the shell's screen and on the pages."""

import functools

__all__ = ["controls_shown"]


@functools.cache
def _table(keep: str) -> dict[int, str]:
    controls = (*range(0x20), *range(0x7F, 0xA0))
    return {c: f"\\x{c:02x}" for c in controls if chr(c) not in keep}


def controls_shown(text: str, keep: str = "\t\n") -> str:
    """`text` with each control character but those of `keep` written `\\xNN`. A terminal
    keeps tab and line feed (a carriage return would write over the line); a page may
    keep the carriage return too, which HTML shows as a space."""
    return text.translate(_table(keep))
