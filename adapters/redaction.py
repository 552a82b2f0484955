"""Credentials out of text, the one function every error, log line and screen goes
through: `postgresql://tidings:hunter2@db/t` is shown as `postgresql://tidings:***@db/t`,
`...?password=hunter2` as `...?password=***`."""

import os
import re

from tidings.domain.redaction import SECRET_HEADERS, SECRET_PARAMS

__all__ = ["REDACT_HEADERS_ENV", "REDACT_PARAMS_ENV", "redacted", "secret_headers", "secret_params"]

REDACT_PARAMS_ENV = "TIDINGS_REDACT_PARAMS"
REDACT_HEADERS_ENV = "TIDINGS_REDACT_HEADERS"


def _names(variable: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in os.environ.get(variable, "").split(",") if name.strip())


def secret_params() -> tuple[str, ...]:
    """Query parameters redacted from a recorded init request: ours and those of
    `TIDINGS_REDACT_PARAMS` (comma-separated names), read now."""
    return SECRET_PARAMS + _names(REDACT_PARAMS_ENV)


def secret_headers() -> frozenset[str]:
    """Headers redacted from a recorded init request (lower case): ours and those of
    `TIDINGS_REDACT_HEADERS` (comma-separated names, any case), read now."""
    return SECRET_HEADERS | {name.lower() for name in _names(REDACT_HEADERS_ENV)}


# scheme://user:password@ -- the password runs to the last '@' before the host, so a
# password holding '@' or ':' is hidden whole.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<secret>[^\s/]*)@")


# ?password=... (or another parameter `SECRET_PARAMS` names) in a URL's query: a
# driver takes a password there too.
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:[A-Za-z0-9]+[_-])*(?:" + "|".join(SECRET_PARAMS) + r")=)[^&\s#]*",
    re.IGNORECASE,
)


def redacted(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` URL in it, and the
    value of every secret-looking query parameter (`?password=`, `&api_key=`...), as
    `***`."""
    # Every log line passes here: a pattern runs only on a text that can hold its match.
    if "://" in text:
        text = _USERINFO.sub(r"\g<head>:***@", text)
    if "?" in text or "&" in text:
        text = _QUERY_SECRET.sub(r"\g<head>***", text)
    return text
