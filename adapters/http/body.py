"""Reading request bodies with a size cap, and who sent them."""

from starlette.requests import ClientDisconnect, Request

__all__ = ["BodyTooSlow", "ClientGone", "TooLarge", "Unfinished", "client_ip", "read_body"]


class TooLarge(Exception):
    """The body is larger than the cap; reading stopped at the cap."""


class Unfinished(Exception):
    """The body did not arrive whole; nobody is to be answered with a result code
    (`deadlines.BodyDeadline` answers or logs it)."""


class ClientGone(Unfinished):
    """The client hung up before its body was whole."""


class BodyTooSlow(Unfinished):
    """The body did not arrive within the server's body deadline."""


async def read_body(request: Request, cap: int) -> bytes:
    """The whole body, or TooLarge as soon as it passes `cap` bytes.

    A declared Content-Length over the cap fails before anything is read, so a client
    cannot make the server buffer a body it will refuse anyway. Raises `ClientGone` when
    the client hangs up first (and `BodyTooSlow` past the body deadline).
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise TooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


def client_ip(request: Request) -> str | None:
    """The peer address of the connection. Proxy headers are applied before this (by
    uvicorn) only when the peer is one of `tidings serve --trusted-proxies`."""
    return request.client.host if request.client else None
