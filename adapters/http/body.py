"""Reading request bodies with a size cap, and who sent them."""

from starlette.requests import Request

__all__ = ["TooLarge", "client_ip", "read_body"]


class TooLarge(Exception):
    """The body is larger than the cap; reading stopped at the cap."""


async def read_body(request: Request, cap: int) -> bytes:
    """The whole body, or TooLarge as soon as it passes `cap` bytes.

    A declared Content-Length over the cap fails before anything is read, so a client
    cannot make the server buffer a body it will refuse anyway.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def client_ip(request: Request) -> str | None:
    """The peer address of the connection. Proxy headers are not trusted here: run
    uvicorn with `--proxy-headers` and `--forwarded-allow-ips` to have them applied."""
    return request.client.host if request.client else None
