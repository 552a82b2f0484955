"""A witness (`tidings witness`): cosigns a log's checkpoint (C2SP tlog-cosignature) once
a consistency proof from the log's hash tiles shows that it extends the one cosigned last.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import TidingsError
from ..ledger import checkpoint
from ..ledger.entries import Tree
from ..ledger.keys import replace_file
from ..ledger.merkle import extends

__all__ = ["NotExtended", "Witness", "log_url", "tile_path"]

_WIDTH = 256


class NotExtended(TidingsError):
    """The log's checkpoint cannot be cosigned; the message says why."""


def log_url(log: str, path: str) -> str:
    """The URL of `path` (`checkpoint`, a tile) under the log at `log`, its query string
    (a proxy's token, say) and fragment kept after it."""
    parts = urlsplit(log)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path}"))


def tile_path(level: int, index: int, width: int) -> str:
    """A hash tile's path: `tile/<L>/<N>[.p/<W>]`, N in groups of three digits."""
    *upper, last = (group.zfill(3) for group in f"{index:,}".split(","))
    path = "/".join([*("x" + group for group in upper), last])
    return f"tile/{level}/{path}" + (f".p/{width}" if width < _WIDTH else "")


def _nodes(fetch: Callable[[str], bytes], size: int) -> Callable[[int, int], bytes]:
    """Node (level, index) of the tree of `size` leaves, from its hash tiles."""

    @cache
    def tile(level: int, index: int) -> bytes:
        width = min(_WIDTH, (size >> (8 * level)) - _WIDTH * index)
        data = fetch(tile_path(level, index, width))
        if len(data) != 32 * width:
            raise NotExtended(f"the log served a tile of {len(data)} bytes for {width} hashes")
        return data

    def node(level: int, index: int) -> bytes:
        tiled, rest = divmod(level, 8)
        subtree = Tree()  # the 2**rest nodes below it, from the tiles of level 8 * tiled
        for i in range(index << rest, (index + 1) << rest):
            subtree.append(tile(tiled, i // _WIDTH)[32 * (i % _WIDTH) : 32 * (i % _WIDTH) + 32])
        return subtree.root()

    return node


@dataclass
class Witness:
    """Cosigns the log at `url` whose checkpoints `log_key` signs, with `key` under
    `name`; `state` is a directory holding `checkpoint`, the note it cosigned last."""

    url: str
    log_key: checkpoint.Verifier
    key: Ed25519PrivateKey = field(repr=False)
    name: str
    state: Path
    clock: Callable[[], float] = time.time

    def _fetch(self, client: httpx.Client, path: str) -> bytes:
        url = log_url(self.url, path)
        # Errors show the URL without its query string, which may hold a token.
        parts = urlsplit(url)
        shown = urlunsplit(parts._replace(query="..." if parts.query else "", fragment=""))
        try:
            answer = client.get(url)
        except httpx.HTTPError as error:
            raise NotExtended(f"cannot fetch {shown}: {error}") from None
        if answer.status_code != 200:
            raise NotExtended(f"{shown} answered {answer.status_code}")
        return answer.content

    def last(self) -> checkpoint.Note | None:
        """The note cosigned last (None: none yet)."""
        try:
            return checkpoint.parse_note((self.state / "checkpoint").read_text())
        except FileNotFoundError:
            return None

    def step(self) -> checkpoint.Note:
        """Fetch the log's checkpoint, check it, cosign it; the cosigned note. The first is
        taken as it is. Raises `NotExtended` (naming both sizes and roots)."""
        with httpx.Client(timeout=30) as client:
            text = self._fetch(client, "checkpoint").decode(errors="replace")
            try:
                signed = checkpoint.from_note(text, [self.log_key])
                note = checkpoint.parse_note(text)
                why = checkpoint.refused(signed, [self.log_key])
            except checkpoint.BadNote as error:
                why = str(error)
            if why is not None:
                raise NotExtended(f"the log's checkpoint is refused: {why}")
            new, root = signed.size, bytes.fromhex(signed.root)
            last = self.last()
            if last is not None:
                _, old, old_root = checkpoint.parse_body(last.body)
                said = (
                    f"the log's checkpoint of {new} entries (root {root.hex()}) does not "
                    f"extend the one cosigned last, of {old} entries (root {old_root.hex()})"
                )
                if new < old:
                    raise NotExtended(said + ": the log is smaller")
                nodes = _nodes(lambda path: self._fetch(client, path), new)
                if not extends(old, new, old_root, root, nodes):
                    raise NotExtended(said + ": no consistency proof leads from one to the other")
        cosigning = checkpoint.cosign(self.key, self.name, note.body, int(self.clock()))
        cosigned = note.with_line(cosigning)
        self.state.mkdir(parents=True, exist_ok=True)
        replace_file(self.state / "checkpoint", str(cosigned).encode())
        return cosigned
