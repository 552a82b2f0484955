"""`tidings key new|rotate`, `tidings checkpoint`, `tidings prove`: signed checkpoints of
the log (C2SP notes), kept by auditors (witnesses), and inclusion and consistency proofs.
`verify --witness` (cli/integrity.py) checks the log against them (cli/findings.py)."""

import os
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from tidings.adapters.audit.proofs import NotProvable, prove, prove_consistency
from tidings.adapters.audit.trail import Audit
from tidings.adapters.ledger.checkpoint import COSIGNATURE, Checkpoint, verifier_of
from tidings.adapters.ledger.keys import BadKey, load_key
from tidings.adapters.ledger.signer import Refused, new_signing_key, rotate, signer_for
from tidings.adapters.numbers import whole_number
from tidings.adapters.store.application import Store

from .options import Db, examples, open_store
from .output import fail, usage
from .sealing import ROTATE_EPILOG, new_secrets_key_file, rotate_secrets_command

__all__ = ["checkpoint_command", "key_new", "prove_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""

key_app = typer.Typer(
    help="Keys kept outside the database: checkpoints' signing key, push secrets' sealing key.",
    epilog="Example: tidings key new signing.key --origin example.com/tidings",
    no_args_is_help=True,
)

Out = Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")]


def _writable(out: Path | None) -> None:
    """Exit 2, before any work, when `out` cannot be written: a folder, or in a folder
    that does not exist or may not be written to (a key rotated or a head signed, its
    output lost, would be a change the failed command made)."""
    if out is None:
        return
    if out.is_dir():
        why = "Is a directory"
    elif not out.parent.is_dir():
        why = "No such file or directory"
    elif not os.access(out if out.exists() else out.parent, os.W_OK):
        why = "Permission denied"
    else:
        return
    raise fail(f"cannot write {out}: {why}", 2)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        out.write_text(text if text.endswith("\n") else text + "\n")
    except OSError as error:  # a missing folder, a directory, no permission
        raise fail(f"cannot write {out}: {error.strerror or error}", 2) from None


def _json(document: msgspec.Struct) -> str:
    return msgspec.json.format(msgspec.json.encode(document).decode(), indent=2)


@key_app.command(
    "new",
    short_help="Write a new key file.",
    epilog="Example: tidings key new signing.key --origin example.com/tidings",
)
def key_new(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The key file to write.")],
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="The log's name in its checkpoints: a schema-less URL, no spaces, no '+'.",
        ),
    ] = None,
    cosigner: Annotated[
        bool,
        typer.Option(
            "--cosigner",
            help="A witness's key: print its cosignature verifier key (ORIGIN: its name).",
        ),
    ] = False,
    secrets: Annotated[
        bool, typer.Option("--secrets", help="A key that seals push signing secrets instead.")
    ] = False,
) -> None:
    """Write a new Ed25519 private key to PATH (mode 0600), its signer's memory beside it
    (PATH.state), and print its verifier key.

    Give the file to servers as TIDINGS_SIGNING_KEY=PATH; give the verifier key to
    auditors. The key is never stored in the database. With --cosigner, the key is a
    witness's (`tidings witness --key PATH --name ORIGIN`). With --secrets: an AES-256
    key that seals the push signing secrets (TIDINGS_SECRETS_KEY=PATH)."""
    if secrets:
        return new_secrets_key_file(path)
    if origin is not None and not origin.strip():  # not taken as "no --origin given"
        raise usage("--origin names the log: a schema-less URL, e.g. example.com/tidings")
    try:
        verifier = new_signing_key(path, origin)
        if cosigner:
            verifier = verifier_of(load_key(path), verifier.name, COSIGNATURE)
    except BadKey as error:
        raise usage(str(error)) from None
    typer.echo(f"private key written to {path} (0600); its verifier key:", err=True)
    typer.echo(str(verifier))


@key_app.command(
    "rotate",
    short_help="Hand the log's signing to a new key.",
    epilog="Example: tidings key rotate signing.key next.key --out rotation.txt",
)
def key_rotate(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The key signing the log now.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="A key from `tidings key new`.")],
    out: Out = None,
) -> None:
    """Hand the log's signing from the key in OLD to the one in NEW (made by `tidings key
    new`): NEW's signer takes over OLD's log name and memory, and the rotation is printed
    as a note signed by both keys, for auditors (who then pin both: --key OLD --key NEW).

    Then give servers TIDINGS_SIGNING_KEY=NEW."""
    _writable(out)
    try:
        note = rotate(old, new)
    except BadKey as error:
        raise usage(str(error)) from None
    _emit(str(note), out)


key_app.command(
    "rotate-secrets", short_help="Seal push signing secrets with a new key.", epilog=ROTATE_EPILOG
)(rotate_secrets_command)


def _signing_store(db: str) -> Store:
    """The store of an existing tidings database: signing with TIDINGS_SIGNING_KEY's key
    if set, else read only."""
    try:
        signer = signer_for()
    except BadKey as error:
        raise usage(str(error)) from None
    if signer is None:
        return open_store(db, read_only=True)
    open_store(db, read_only=True).close()  # not to create a database: one clear line
    store = open_store(db)
    store.recorder.tree.signer = signer
    return store


def _head(store: Store) -> Checkpoint | None:
    """The latest checkpoint; with a signer, of the log as it stands (signed now if the
    latest does not reach it, refused when the log does not extend what the key signed
    last). Without one, nothing is written or locked."""
    recorder = store.recorder
    signer = recorder.tree.signer
    if signer is None:
        if not recorder.tree.present(recorder.tree_rows):
            return None
        latest: Checkpoint | None = recorder.tree.latest(recorder.tree_rows)
        return latest
    try:
        signed: Checkpoint | None = recorder.sign_head()
    except Refused as error:
        raise fail(f"the signer refuses: {error}") from None
    signer.settle(signed)  # committed: the signer remembers it
    return signed


@commands.command("checkpoint", epilog="Example: tidings checkpoint --out checkpoint.txt")
def checkpoint_command(db: Db = "tidings.db", out: Out = None) -> None:
    """Print the latest signed checkpoint of the log, a C2SP tlog-checkpoint note, for an
    auditor to keep.

    With TIDINGS_SIGNING_KEY set, the log as it stands is signed first (refused, exit 1,
    when it does not extend what the key signed last)."""
    _writable(out)
    store = _signing_store(db)
    try:
        latest = _head(store)
    finally:
        store.close()
    if latest is None:
        raise fail("no signed checkpoint: set TIDINGS_SIGNING_KEY to sign the log")
    _emit(str(latest.note()), out)


@commands.command(
    "prove",
    epilog=examples(
        "tidings prove 1286957874.1271.15706 --out proof.json",
        "tidings prove --consistency 1000 2000",
    ),
)
def prove_command(
    target: Annotated[
        str | None, typer.Argument(metavar="TARGET", help="An svTRID, or LOGIN:ID.")
    ] = None,
    db: Db = "tidings.db",
    out: Out = None,
    consistency: Annotated[
        tuple[int, int] | None,
        typer.Option(
            "--consistency",
            metavar="OLD NEW",
            help="Prove the tree of NEW entries extends that of OLD (RFC 9162 2.1.4); "
            "NEW 0: the latest checkpoint's.",
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option("--size", min=1, help="Prove against this older tree size, not the latest."),
    ] = None,
) -> None:
    """Print inclusion proofs of an operation's log entries (TARGET: its svTRID) or a
    notification's (TARGET: LOGIN:ID) against the latest signed checkpoint, or a
    consistency proof between two tree sizes (--consistency).

    With TIDINGS_SIGNING_KEY set, the log as it stands is signed first."""
    if (target is None) == (consistency is None):
        raise usage("give a TARGET or --consistency OLD NEW")
    _writable(out)
    store = _signing_store(db)
    try:
        head = _head(store)
        if consistency is not None:
            old, new = consistency
            _emit(_json(prove_consistency(store, old, new or None, head)), out)
            return
        assert target is not None
        login, colon, ident = target.rpartition(":")
        audit = Audit(store)
        number = whole_number(ident)  # ASCII digits only: an Arabic-Indic one is no id
        if colon and number is not None:
            entries = audit.by_notification(login, number)
        else:
            entries = audit.by_svtrid(target)
        if not entries:
            raise fail(f"no log entry concerns {target}")
        proof = prove(store, [entry.position for entry in entries], size)
    except NotProvable as error:
        raise fail(str(error)) from None
    finally:
        store.close()
    _emit(_json(proof), out)
