"""What a notification may carry, so that everything stored can always be rendered.

A notification's `data` goes out as WAPI XML (poll-req, pushed `<notify>`), where each
key becomes an element: every key must be an XML name (`[A-Za-z_][A-Za-z0-9._-]*`), and
the tree may nest at most `MAX_DEPTH` levels (an XML writer, and many clients' parsers,
recurse once per level). An init request's body is carried as text, but a JSON body is
sent back as it came to JSON clients: it may nest no deeper either.
"""

import re
from typing import Any

from .values import InitRequest

__all__ = ["MAX_DEPTH", "data_problem", "init_request_problem"]

MAX_DEPTH = 32

_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")


def data_problem(data: dict[str, Any] | None) -> str | None:
    """What is wrong with a notification's `data`, or None. Walks the tree without
    recursion, so no depth makes it fail."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                return f"data nests deeper than {MAX_DEPTH} levels"
            for key, value in item.items():
                if not isinstance(key, str) or not _XML_NAME.fullmatch(key):
                    return f"data keys must be XML names ([A-Za-z_][A-Za-z0-9._-]*), not {key!r}"
                stack.append((value, depth + 1))
        elif isinstance(item, list | tuple):
            if depth > MAX_DEPTH:
                return f"data nests deeper than {MAX_DEPTH} levels"
            stack.extend((value, depth + 1) for value in item)
    return None


def init_request_problem(request: InitRequest | None) -> str | None:
    """What is wrong with an init request, or None: a JSON body nesting deeper than
    `MAX_DEPTH` levels (counted by its brackets outside strings)."""
    if request is None or "json" not in request.content_type.lower():
        return None
    depth, in_string, escaped = 0, False, False
    for char in request.body:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return f"the init request's body nests deeper than {MAX_DEPTH} levels"
        elif char in "]}":
            depth -= 1
    return None
