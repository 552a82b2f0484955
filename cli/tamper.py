"""`tidings key new`, `tidings checkpoint`, `tidings prove`: signed checkpoints of the
log, kept by auditors (witnesses), and inclusion proofs for clients. `verify --witness`
(cli/integrity.py) checks the log against them (`report`)."""

from pathlib import Path
from typing import Annotated

import msgspec
import typer
from tidings.adapters.audit.inclusion import NotProvable, prove
from tidings.adapters.audit.trail import Audit
from tidings.adapters.audit.witness import check
from tidings.adapters.ledger.checkpoint import Checkpoint, signer_for
from tidings.adapters.ledger.keys import BadKey, new_key
from tidings.adapters.store.application import Store

from .options import Db, open_store
from .output import fail

__all__ = ["Trusted", "Witnesses", "checkpoint_command", "key_new", "prove_command", "report"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

key_app = typer.Typer(help="Signing keys for the log's checkpoints.", no_args_is_help=True)

Out = Annotated[
    Path | None, typer.Option("--out", help="Write the JSON to this file instead of stdout.")
]
Witnesses = Annotated[
    list[Path] | None,
    typer.Option(
        "--witness",
        help="A checkpoint kept elsewhere (`tidings checkpoint --out`); the log must extend it.",
    ),
]
Trusted = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="TIDINGS_PUBLIC_KEY",
        help="The public key (hex) checkpoints must be signed with.",
    ),
]


def _emit(document: msgspec.Struct, out: Path | None) -> None:
    text = msgspec.json.format(msgspec.json.encode(document).decode(), indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")


@key_app.command("new", epilog="Example: tidings key new /etc/tidings/signing.key")
def key_new(path: Path) -> None:
    """Write a new Ed25519 private key to PATH (mode 0600) and print its public key.

    Give the file to servers as TIDINGS_SIGNING_KEY=PATH; give the public key to
    auditors. The key is never stored in the database."""
    try:
        public = new_key(path)
    except BadKey as error:
        raise fail(str(error), 2) from None
    typer.echo(f"private key written to {path} (0600); its public key:", err=True)
    typer.echo(public)


def _signing_store(db: str) -> Store:
    """The store of an existing tidings database: signing with TIDINGS_SIGNING_KEY's key
    if set, else read only."""
    try:
        signer = signer_for()
    except BadKey as error:
        raise fail(str(error), 2) from None
    if signer is None:
        return open_store(db, read_only=True)
    open_store(db, read_only=True).close()  # not to create a database: one clear line
    store = open_store(db)
    store.recorder.tree.signer = signer
    return store


def _head(store: Store) -> Checkpoint | None:
    """The latest checkpoint; with a signer, of the log as it stands (signed now if the
    latest does not reach it). Without one, nothing is written or locked."""
    recorder = store.recorder
    if recorder.tree.signer is None:
        if not recorder.tree.present(recorder.tree_rows):
            return None
        latest: Checkpoint | None = recorder.tree.latest(recorder.tree_rows)
        return latest
    signed: Checkpoint | None = recorder.sign_head()
    return signed


@commands.command("checkpoint", epilog="Example: tidings checkpoint --out witness.json")
def checkpoint_command(db: Db = "tidings.db", out: Out = None) -> None:
    """Print the latest signed checkpoint of the log as JSON, for an auditor to keep.

    With TIDINGS_SIGNING_KEY set, the log as it stands is signed first."""
    store = _signing_store(db)
    try:
        latest = _head(store)
    finally:
        store.close()
    if latest is None:
        raise fail("no signed checkpoint: set TIDINGS_SIGNING_KEY to sign the log")
    _emit(latest, out)


@commands.command("prove", epilog="Example: tidings prove 1286957874.1271.15706 --out proof.json")
def prove_command(target: str, db: Db = "tidings.db", out: Out = None) -> None:
    """Print inclusion proofs of an operation's log entries (TARGET: its svTRID) or a
    notification's (TARGET: LOGIN:ID) against the latest signed checkpoint.

    With TIDINGS_SIGNING_KEY set, the log as it stands is signed first."""
    login, colon, ident = target.rpartition(":")
    store = _signing_store(db)
    try:
        audit = Audit(store)
        if colon and ident.isdigit():
            entries = audit.by_notification(login, int(ident))
        else:
            entries = audit.by_svtrid(target)
        if not entries:
            raise fail(f"no log entry concerns {target}")
        _head(store)
        proof = prove(store, [entry.position for entry in entries])
    except NotProvable as error:
        raise fail(str(error)) from None
    finally:
        store.close()
    _emit(proof, out)


def report(store: Store, witnesses: list[Path], trusted: str | None) -> bool:
    """Check the signed checkpoints and `witnesses` against the log, say what was found;
    whether all holds."""
    kept = []
    for path in witnesses:
        try:
            kept.append((str(path), msgspec.json.decode(path.read_bytes(), type=Checkpoint)))
        except (OSError, msgspec.DecodeError) as error:
            typer.echo(f"FAILED: witness {path} cannot be read: {error}", err=True)
            return False
    found = check(store, kept, trusted)
    for failure in found.failures:
        typer.echo(f"FAILED: {failure}", err=True)
    if not found.tree:
        typer.echo(
            "no Merkle tree yet (a database from before it): tidings builds it when it next writes"
        )
    elif found.signed == 0:
        typer.echo("no signed checkpoints: nothing is signed without TIDINGS_SIGNING_KEY")
    else:
        typer.echo(f"{found.signed} signed checkpoints hold")
    if trusted is None and (found.signed or kept):
        typer.echo("signatures checked with the key each checkpoint names (pin one: --key)")
    if kept:
        typer.echo(f"{found.witnessed} of {len(kept)} witnessed checkpoints: the log extends them")
    typer.echo(
        "a truncation after the last witnessed checkpoint cannot be detected"
        + ("" if kept else " (no witness given: --witness FILE)")
    )
    return not found.failures
