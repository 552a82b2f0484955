"""What of a client's original request may be stored: its secrets never enter the log.

A JobResult returns the init request in full, and the log is permanent, so credentials
are replaced when the request is recorded (not when it is sent): the headers
`Authorization`, `Cookie`, `Proxy-Authorization`, `X-Api-Key`, `x-Token`, and query
parameters whose name looks secret (`token`, `key`, `api_key`, `password`, `secret`, and
names ending in them, e.g. `access_token`; more can be named).
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from msgspec.structs import replace

from .values import InitRequest

__all__ = ["REDACTED", "SECRET_HEADERS", "SECRET_PARAMS", "redacted"]

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-api-key", "x-token"}
)
SECRET_PARAMS: tuple[str, ...] = ("token", "key", "api_key", "apikey", "password", "secret")


def _secret_param(name: str, params: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(lowered == p or lowered.endswith(("_" + p, "-" + p)) for p in params)


def _uri(uri: str, params: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(uri)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return uri
    if not any(_secret_param(name, params) for name, _ in pairs):
        return uri
    query = urlencode(
        [(name, REDACTED if _secret_param(name, params) else value) for name, value in pairs]
    )
    return urlunsplit(parts._replace(query=query))


def redacted(
    request: InitRequest,
    params: tuple[str, ...] = SECRET_PARAMS,
    secret_headers: frozenset[str] = SECRET_HEADERS,
) -> InitRequest:
    """`request` with its credentials replaced by `[redacted]` (`params`: the secret
    query parameter names; `secret_headers`: the secret header names, lower case)."""
    headers = tuple(
        (name, REDACTED if name.lower() in secret_headers else value)
        for name, value in request.headers
    )
    return replace(request, headers=headers, uri=_uri(request.uri, params))
