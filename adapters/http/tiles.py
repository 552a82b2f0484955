"""The log's Merkle tree as C2SP tlog-tiles (`tiles_route`)."""

import re
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..audit.proofs import NotProvable, bundle
from ..errors import StorageError
from ..numbers import LARGEST, whole_number
from ..store.application import Store
from ..store.outage import storage_errors
from .context import Context, bearer

__all__ = ["HEIGHT", "WIDTH", "hash_tile", "tile_index", "tiles_route"]

HEIGHT = 8
WIDTH = 1 << HEIGHT
_FULL = "public, max-age=31536000, immutable"
_PARTIAL = "public, max-age=60"
# ASCII digits only: `\d` and `str.isdigit` take "²" and the Arabic-Indic digits too.
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_MAX_INDEX = LARGEST // WIDTH


def _decimal(raw: str, largest: int) -> int | None:
    """`raw` as a number 0..`largest` written as tlog-tiles requires a level or a width:
    in ASCII digits, without leading zeros (one path per tile: `01` is not `1`)."""
    number = whole_number(raw, largest)
    return number if number is not None and str(number) == raw else None


def _not_found() -> HTTPException:
    return HTTPException(404, "not found")


def tile_index(parts: list[str]) -> tuple[int, int]:
    """(N, W) from the path segments of a tile's index: `x001/x234/067[.p/<W>]`; W is
    WIDTH for a full tile. 404 when malformed or not written as tlog-tiles does (a
    width with leading zeros, a leading `x000` group)."""
    width: int | None = WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        width = _decimal(parts[-1], WIDTH - 1)
        parts = [*parts[:-2], parts[-2][:-2]]
    last = parts[-1] if parts else ""
    if not width or not _LAST.fullmatch(last) or not all(_GROUP.fullmatch(p) for p in parts[:-1]):
        raise _not_found()
    if parts[0] == "x000":  # 5 is `005`, not `x000/005`
        raise _not_found()
    # A tile's first leaf (256 N) is a position, which both stores keep in 64 bits.
    index = whole_number("".join(p.lstrip("x") for p in parts).lstrip("0") or "0", _MAX_INDEX)
    if index is None:
        raise _not_found()
    return index, width


def hash_tile(store: Store, level: int, index: int, width: int) -> bytes:
    """The hash tile's bytes; 404 when the tree does not hold it yet."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    height = HEIGHT * level
    first = index * WIDTH
    if first + width > tables.size(rows) >> height:
        raise _not_found()
    wanted = [(height, first + i) for i in range(width)]
    found = tables.nodes(rows, wanted)
    if len(found) < width:
        raise _not_found()
    return b"".join(found[node] for node in wanted)


def _read(answer: Callable[[str, bool], Response], path: str, admin: bool) -> Response:
    with storage_errors():
        return answer(path, admin)


def tiles_route(context: Context) -> Route:
    """`GET /log/checkpoint` (the latest signed note), `/log/tile/<L>/<N>[.p/<W>]` (hash
    tiles, public) and `/log/tile/entries/<N>[.p/<W>]` (entry bundles of each leaf's
    canonical bytes, admin token only: they hold notification content). Full tiles are
    cached as immutable, a partial one for a minute; while the store cannot answer, 503."""

    def answer(path: str, admin: bool) -> Response:
        store = context.tidings.store
        parts = path.split("/")
        if parts == ["checkpoint"]:
            tables, rows = store.recorder.tree, store.recorder.tree_rows
            latest = tables.latest(rows) if tables.present(rows) else None
            if latest is None:
                raise _not_found()
            return PlainTextResponse(str(latest.note()), headers={"Cache-Control": "no-cache"})
        if len(parts) < 3 or parts[0] != "tile":
            raise _not_found()
        if parts[1] == "entries":
            if not admin:
                raise HTTPException(401, "entry bundles need the admin token")
            index, width = tile_index(parts[2:])
            try:
                body = bundle(store, index * WIDTH, width)
            except NotProvable:
                raise _not_found() from None
            cache = "private, max-age=31536000, immutable" if width == WIDTH else "private"
        else:
            level = _decimal(parts[1], 63)
            if level is None:
                raise _not_found()
            index, width = tile_index(parts[2:])
            body = hash_tile(store, level, index, width)
            cache = _FULL if width == WIDTH else _PARTIAL
        return Response(body, media_type="application/octet-stream",
                        headers={"Cache-Control": cache})  # fmt: skip

    async def serve(request: Request) -> Response:
        path = request.path_params["path"]
        admin = False
        if path.startswith("tile/entries/"):
            # Failures throttled as the JSON API's: the admin token is the same.
            let = await bearer(request, context, "api", named=False)
            if let.retry_after is not None:
                headers = {"Retry-After": str(let.retry_after)}
                return PlainTextResponse("too many failures", 429, headers)
            admin = let.operator is not None
        try:
            return await run_in_threadpool(_read, answer, path, admin)
        except StorageError:  # the store cannot answer (logged once per outage)
            return PlainTextResponse("the store cannot answer now", 503)

    return Route("/log/{path:path}", serve, methods=["GET"])
