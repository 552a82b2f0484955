"""`tidings witness`: cosign a tidings log's checkpoints once the log extends the last
one cosigned (C2SP tlog-cosignature), checked from its tiles alone."""

import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from tidings.adapters.audit.cosigner import NotExtended, Witness
from tidings.adapters.ledger.checkpoint import COSIGNATURE, BadNote, parse_vkey, verifier_of
from tidings.adapters.ledger.keys import BadKey, load_key

from .options import examples
from .output import fail, usage

__all__ = ["witness_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


def _is_log_url(log: str) -> bool:
    """Whether `log` can be fetched from: http(s), a host, a port in range."""
    try:
        parts = urlsplit(log)
        return (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)
        )
    except ValueError:  # urlsplit and .port refuse some: "http://[::1", "http://h:99999"
        return False


@commands.command(
    "witness",
    epilog=examples(
        'tidings witness --log http://127.0.0.1:8080/log --vkey "$(cat log.vkey)" '
        "--key witness.key --name witness.example/w1 --state witness/ --once"
    ),
)
def witness_command(
    log: Annotated[str, typer.Option("--log", help="The log's tiles: the server's URL + /log.")],
    vkey: Annotated[str, typer.Option("--vkey", help="The log's verifier key.")],
    key: Annotated[Path, typer.Option("--key", help="The witness's private key file.")],
    state: Annotated[Path, typer.Option("--state", help="Where the witness keeps its state.")],
    name: Annotated[
        str, typer.Option("--name", help="The witness's name in its cosignatures.")
    ] = "tidings-witness",
    once: Annotated[bool, typer.Option("--once", help="Cosign once and exit.")] = False,
    every: Annotated[
        float, typer.Option("--every", min=1, help="Seconds between checkpoints fetched.")
    ] = 60.0,
) -> None:
    """Fetch the log's checkpoint, check its signature and that the log extends the last
    checkpoint this witness cosigned, then cosign it: the cosigned note is printed and
    kept in STATE/checkpoint, for `tidings verify --witness STATE/checkpoint
    --witness-key ...`.

    Exit code 1, naming both sizes and roots, when the log does not extend it; 2 when
    --log is not an http(s) URL with a host, or STATE cannot be read or written (not a
    directory, a `checkpoint` that is no note)."""
    if not _is_log_url(log):  # shown without a query (a token) or password (`fail`)
        shown = log.split("?", 1)[0] + ("?..." if "?" in log else "")
        raise usage(f"--log is an http(s) URL with a host, not {shown!r}")
    try:
        log_key = parse_vkey(vkey)
        private = load_key(key)
        cosigner = verifier_of(private, name, COSIGNATURE)
    except BadKey as error:
        raise usage(str(error)) from None
    witness = Witness(log, log_key, private, name, state)
    typer.echo(f"cosigning as {cosigner}", err=True)
    while True:
        try:
            witness.last()  # an unusable state is said before the log is asked (exit 2)
            cosigned = witness.step()
        except NotExtended as error:
            raise fail(f"not cosigned: {error}") from None
        except (OSError, BadNote) as error:  # the state, not the log: no fork to report
            said = f"not cosigned: the witness's state in {state} is unusable: {error}"
            raise usage(said) from None
        typer.echo(str(cosigned), nl=False)
        if once:
            return
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return
