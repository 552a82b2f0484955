"""`tidings verify --witness`: the keys it pins and what it finds, checking the signed
checkpoints and the witnesses' notes against the log (`report`, printed by `say`)."""

import itertools
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from tidings.adapters.audit.proofs import check
from tidings.adapters.ledger.checkpoint import (
    BadNote,
    Cadence,
    Checkpoint,
    Verifier,
    cadence_from_env,
    from_note,
    parse_note,
    parse_vkey,
    signed_by,
    trusted_keys,
)
from tidings.adapters.ledger.keys import BadKey
from tidings.adapters.store.application import Store

from .output import usage

__all__ = ["Cosigners", "Findings", "Quorum", "Trusted", "Witnesses", "pinned", "report", "say"]

Witnesses = Annotated[
    list[Path] | None,
    typer.Option(
        "--witness",
        metavar="FILE",
        help="A checkpoint kept elsewhere (`tidings checkpoint --out`, or a witness's "
        "cosigned note); the log must extend it. Needs --key.",
    ),
]
Trusted = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        envvar="TIDINGS_PUBLIC_KEY",
        metavar="VKEY",
        help="A verifier key (as `tidings key new` prints it) checkpoints must be signed "
        "with; repeat it for keys rotated out. 64 hex digits: an old public key.",
    ),
]
Cosigners = Annotated[
    list[str] | None,
    typer.Option(
        "--witness-key", metavar="VKEY", help="A witness's verifier key (`tidings witness`)."
    ),
]
Quorum = Annotated[
    int,
    typer.Option(
        "--quorum", min=0, help="Cosignatures by --witness-key keys each --witness must carry."
    ),
]


def _cosigned(path: Path, cosigners: list[Verifier], quorum: int) -> str | None:
    """Why the note in `path` lacks its quorum of cosignatures (None: it has it)."""
    if quorum == 0:
        return None
    found = signed_by(parse_note(path.read_text()), cosigners)
    if len(found) >= quorum:
        return None
    return f"witness {path} carries {len(found)} of the {quorum} cosignatures required"


def _gaps(signed: list[Checkpoint]) -> list[str]:
    """Warnings where checkpoints are further apart than twice the configured cadence
    (a batch may carry the log a little past it)."""
    try:
        entries = cadence_from_env().entries
    except BadKey:
        entries = Cadence().entries
    return [
        f"warning: {after.size - before.size} entries between the checkpoints of "
        f"{before.size} and {after.size} entries, more than twice the cadence ({entries})"
        for before, after in itertools.pairwise(signed)
        if after.size - before.size > 2 * entries
    ]


def _key_id(checkpoint: Checkpoint) -> str:
    return "+".join(checkpoint.key.split("+")[:2])


class Findings(msgspec.Struct, frozen=True):
    """What `report` found: `failures` (each a checkpoint or witness that does not
    hold), `warnings` (gaps wider than the cadence) and `notes` (what was checked, and
    what could not be); `signed` checkpoints that hold, and of the `witnesses` given,
    those the log extends (`witnessed`)."""

    holds: bool
    tree: bool
    signed: int
    witnesses: int
    witnessed: int
    failures: list[str]
    warnings: list[str]
    notes: list[str]


def pinned(
    witnesses: list[Path], keys: list[str], cosigners: list[str] | None = None, quorum: int = 0
) -> tuple[list[Verifier], list[Verifier]]:
    """The log's keys and the witnesses' keys `verify` checks with, or `typer.Exit(2)`
    with one line for a bad key, a witness without the log's key, or a quorum too large
    (before anything is read, so a typo costs no walk of the log)."""
    try:
        trusted = trusted_keys(keys)
        witness_keys = [parse_vkey(text) for text in cosigners or []]
    except BadKey as error:
        raise usage(str(error)) from None
    if witnesses and not trusted:
        raise usage("pin the log's key to check a witness: --key VERIFIER_KEY")
    if quorum > len(witness_keys):
        raise usage(f"--quorum {quorum} needs as many --witness-key")
    return trusted, witness_keys


def report(
    store: Store,
    witnesses: list[Path],
    keys: list[str],
    cosigners: list[str] | None = None,
    quorum: int = 0,
) -> Findings:
    """Check the signed checkpoints and `witnesses` against the log (signatures with the
    pinned `keys`; each witness cosigned by `quorum` of `cosigners`): what was found
    (`say` prints it for people). Raises `typer.Exit(2)` for a bad key or quorum."""
    trusted, witness_keys = pinned(witnesses, keys, cosigners, quorum)
    kept, failures = [], []
    for path in witnesses:
        try:
            checkpoint = from_note(path.read_text(), trusted)
            kept.append((str(path), checkpoint))
            why = _cosigned(path, witness_keys, quorum)
        except (OSError, UnicodeDecodeError, BadNote) as error:
            why = f"witness {path} cannot be read: {error}"
        if why is not None:
            failures.append(why)
    found = check(store, kept, trusted)
    failures += found.failures
    stored = store.recorder.tree.checkpoints_stored(store.recorder.tree_rows) if found.tree else []
    notes = [
        f"the signing key changed at the checkpoint of {after.size} entries: "
        f"from {_key_id(before)} to {_key_id(after)}"
        for before, after in itertools.pairwise(stored)
        if before.key != after.key
    ]
    if found.signed == 0 and not failures:
        notes.append("no signed checkpoints: nothing is signed without TIDINGS_SIGNING_KEY")
    elif not failures:
        notes.append(f"{found.signed} signed checkpoints hold")
    if not trusted and found.signed:
        notes.append(
            "signatures NOT checked against a pinned key: each checkpoint only against the "
            "key it names, which anyone could have used (pin one: --key)"
        )
    if kept and not failures:
        notes.append(
            f"{found.witnessed} of {len(kept)} witnessed checkpoints: the log extends them"
        )
    notes.append(
        "a truncation after the last witnessed checkpoint cannot be detected"
        + ("" if witnesses else " (no witness given: --witness FILE)")
    )
    return Findings(
        holds=not failures,
        tree=found.tree,
        signed=found.signed,
        witnesses=len(kept),
        witnessed=found.witnessed,
        failures=failures,
        warnings=_gaps(stored),
        notes=notes,
    )


def say(findings: Findings) -> None:
    """Print `findings` for people: failures and warnings on stderr, notes on stdout."""
    for failure in findings.failures:
        typer.echo(f"FAILED: {failure}", err=True)
    for warning in findings.warnings:
        typer.echo(warning, err=True)
    for note in findings.notes:
        typer.echo(note)
