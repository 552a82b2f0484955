"""Credentials out of text: the one function every error, log line and screen goes through.

A database URL such as `postgresql://tidings:hunter2@db:5432/tidings` may reach an error
message (ours, or a driver's that quotes its connection string); what is shown instead
is `postgresql://tidings:***@db:5432/tidings`.
"""

import re

__all__ = ["redacted"]

# scheme://user:password@ -- the password runs to the last '@' before the host, so a
# password holding '@' or ':' is hidden whole.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<secret>[^\s/]*)@")


def redacted(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` URL in it as `***`."""
    return _USERINFO.sub(r"\g<head>:***@", text)
