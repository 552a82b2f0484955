"""What a document may hold: how deep any document may nest, by its kind, and what a
notification may carry so that everything stored can always be rendered.

**Depth**, one rule that every edge applies: a document nests at most `DEPTH[kind]`
levels, a level being a JSON object or array, an XML element, or a dict or list of a
tree already decoded.

- "request", a WAPI request (XML or JSON): 12. Real ones are two or three levels deep.
- "data", a notification's `data` and an init request's JSON body: 32. Data goes out as
  WAPI XML, whose writers and many clients' parsers recurse once per level; a JSON init
  request is sent back as it came to JSON clients.
- "body", a body of the JSON API or of Merchants: 64 (a server may set its own,
  `tidings serve --max-depth`). Above "data", so that the data rule gives its own answer
  (2101); this one only keeps parsers from recursing.

`too_deep` judges JSON text by its brackets outside strings, before any parser builds a
tree (a document nested a hundred thousand levels costs one linear scan), or a tree
already decoded, without recursion. XML readers count elements as they read, against
the same table.

**Data**: each key of a notification's `data` becomes an XML element, so it must be an
XML name (`[A-Za-z_][A-Za-z0-9._-]*`). Each value is what JSON and WAPI XML both carry
and the log stores as it was given: text (Unicode: no lone surrogate), a whole number
that fits in 64 bits, a finite number, true or false, null, a list or an object; a list
holds no list directly (an object between them is fine): WAPI XML writes a list as one
element per item, which cannot say where an inner list begins or ends. A set, bytes,
another object or a list of lists would be stored as something else than it was given,
or rendered as Python writes it, or not stored at all.
"""

import math
import re
from types import MappingProxyType
from typing import Any, Final, Literal

from .values import InitRequest

__all__ = ["DEPTH", "MAX_DEPTH", "DepthKind", "data_problem", "init_request_problem", "too_deep"]

DepthKind = Literal["request", "data", "body"]

DEPTH: Final = MappingProxyType[DepthKind, int]({"request": 12, "data": 32, "body": 64})

# The deepest a notification's data may nest.
MAX_DEPTH = DEPTH["data"]

_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")

# The whole numbers the log's MessagePack holds.
_LEAST, _MOST = -(2**63), 2**64 - 1

# What can open or close a nesting level or a string in JSON text; the rest is skipped
# in C.
_BYTES: tuple[Any, ...] = (re.compile(rb'[][{}"\\]'), ord('"'), ord("\\"), b"[{", b"]}")
_TEXT: tuple[Any, ...] = (re.compile(r'[][{}"\\]'), '"', "\\", "[{", "]}")


def too_deep(document: Any, kind: DepthKind, *, limit: int | None = None) -> bool:
    """Whether `document` nests deeper than its kind may (`limit`: a server's own limit
    for the kind, else `DEPTH[kind]`).

    `document` is JSON text (`bytes` or `str`: its arrays and objects count, brackets
    inside strings do not; malformed text is not judged here, False unless deep: its
    decoder refuses it as it would) or a decoded tree (its dicts, lists and tuples
    count). The scan stops at the first level past the limit."""
    most = DEPTH[kind] if limit is None else limit
    if isinstance(document, bytes | str):
        return _text_too_deep(document, most)
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > most:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _text_too_deep(text: bytes | str, most: int) -> bool:
    pattern, quote, escape, opening, closing = _BYTES if isinstance(text, bytes) else _TEXT
    depth, in_string, escaped = 0, False, -1
    for match in pattern.finditer(text):
        at = match.start()
        if at == escaped:
            continue
        char = text[at]
        if in_string:
            if char == escape:
                escaped = at + 1
            elif char == quote:
                in_string = False
        elif char == quote:
            in_string = True
        elif char in opening:
            depth += 1
            if depth > most:
                return True
        elif char in closing:
            depth -= 1
    return False


def data_problem(data: dict[str, Any] | None) -> str | None:
    """What is wrong with a notification's `data`, or None. Walks the tree without
    recursion, so no depth makes it fail."""
    if data is None:  # most endings carry none: spared the walks below
        return None
    if too_deep(data, "data"):
        return f"data nests deeper than {MAX_DEPTH} levels"
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str) or not _XML_NAME.fullmatch(key):
                    return f"data keys must be XML names ([A-Za-z_][A-Za-z0-9._-]*), not {key!r}"
                stack.append(value)
        elif isinstance(item, list | tuple):
            if any(isinstance(child, list | tuple) for child in item):
                return "a data list may not hold a list: XML writes a list as repeated elements"
            stack.extend(item)
        elif problem := _value_problem(item):
            return problem
    return None


def _value_problem(value: Any) -> str | None:
    """What is wrong with one value of `data` that is no list or object, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value.isascii() or _is_unicode(value):
            return None
        return "data texts must be Unicode text, not hold a lone surrogate"
    if isinstance(value, int):
        if _LEAST <= value <= _MOST:
            return None
        return f"data whole numbers must fit in 64 bits, not {value}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"data numbers must be finite, not {value}"
    return (
        "data values must be text, numbers, true or false, null, lists or objects, "
        f"not {type(value).__name__}"
    )


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def init_request_problem(request: InitRequest | None) -> str | None:
    """What is wrong with an init request, or None: a JSON body nesting deeper than
    `DEPTH["data"]` levels."""
    if request is None or "json" not in request.content_type.lower():
        return None
    if too_deep(request.body, "data"):
        return f"the init request's body nests deeper than {DEPTH['data']} levels"
    return None
