"""`tidings replay` and `tidings verify`: check the live state and the log itself."""

import msgspec
import typer
from tidings.adapters.audit.integrity import Break, CorruptEvent, ReplayReport, replay, verify

from .findings import Cosigners, Findings, Quorum, Trusted, Witnesses, pinned, report, say
from .options import Db, open_store
from .output import Json, emit, progress

__all__ = ["replay_command", "verify_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


class _Corrupt(msgspec.Struct, frozen=True):
    position: int
    topic: str
    reason: str


class _Replayed(msgspec.Struct, frozen=True):
    """`replay --json`: `matches` is false (exit 1) when a stream differs or an entry is
    corrupt (then `corrupt` names it and nothing else was compared)."""

    matches: bool
    events: int = 0
    streams: int = 0
    mismatches: list[dict[str, object]] = []
    corrupt: _Corrupt | None = None


def _replayed(done: ReplayReport) -> _Replayed:
    mismatches: list[dict[str, object]] = [
        {"category": m.category, "stream": m.stream, "rebuilt": m.rebuilt, "live": m.live}
        for m in done.mismatches
    ]
    return _Replayed(not mismatches, done.events, done.streams, mismatches)


@commands.command("replay", epilog="Example: tidings replay --db tidings.db")
def replay_command(db: Db = "tidings.db", as_json: Json = False) -> None:
    """Rebuild every stream from the log and compare it with the live state.

    Exit code 1 when any stream differs.
    """
    store = open_store(db, read_only=True)
    try:
        total = store.max_position()
        with progress(total, "replaying") as bar:
            task = bar.add_task("replay", total=total)
            done = replay(store, lambda n: bar.advance(task, n))
    except CorruptEvent as corrupt:
        if as_json:
            reason = str(corrupt.error)
            emit(
                _Replayed(False, corrupt=_Corrupt(corrupt.position, corrupt.topic, reason)),
                True,
                str,
            )
        else:
            typer.echo(f"CORRUPT: {corrupt}", err=True)
        raise typer.Exit(1) from corrupt
    finally:
        store.close()
    if as_json:
        emit(_replayed(done), True, str)
    else:
        _say_replayed(done)
    if done.mismatches:
        raise typer.Exit(1)


def _say_replayed(done: ReplayReport) -> None:
    typer.echo(f"replayed {done.events} events in {done.streams} streams")
    for mismatch in done.mismatches:
        typer.echo(
            f"MISMATCH {mismatch.category} {mismatch.stream}:\n"
            f"  rebuilt: {mismatch.rebuilt}\n  live:    {mismatch.live}",
            err=True,
        )
    if done.mismatches:
        typer.echo(f"{len(done.mismatches)} stream(s) differ from the log", err=True)
    else:
        typer.echo("every stream matches the log")


class _Verified(msgspec.Struct, frozen=True):
    """`verify --json`: `holds` is false (exit 1) when the chain is broken (`broken`
    names the first position and why; `intact` entries come before it) or a checkpoint
    or witness does not hold (`checkpoints.failures`)."""

    holds: bool
    intact: int
    broken: Break | None
    checkpoints: Findings


@commands.command(
    "verify", epilog="Example: tidings verify --db postgresql://tidings@db.internal/tidings"
)
def verify_command(
    db: Db = "tidings.db",
    witness: Witnesses = None,
    key: Trusted = None,
    witness_key: Cosigners = None,
    quorum: Quorum = 0,
    as_json: Json = False,
) -> None:
    """Check the hash chain over the log (reports the first broken position), the signed
    checkpoints, and that the log extends every witnessed checkpoint (`--witness`, with
    the log's key pinned: `--key`), each cosigned by `--quorum` of the `--witness-key`s.

    Exit code 1 when the chain is broken or a checkpoint does not hold.
    """
    pinned(witness or [], key or [], witness_key, quorum)
    store = open_store(db, read_only=True)
    try:
        total = store.max_position()
        with progress(total, "verifying") as bar:
            task = bar.add_task("verify", total=total)
            checked, broken = verify(store, lambda n: bar.advance(task, n))
        if broken is not None and not as_json:
            typer.echo(
                f"BROKEN at position {broken.position}: {broken.reason} "
                f"({checked} entries before it are intact)",
                err=True,
            )
        elif not as_json:
            typer.echo(f"chain intact: {checked} entries")
        findings = report(store, witness or [], key or [], witness_key, quorum)
    finally:
        store.close()
    holds = broken is None and findings.holds
    if as_json:
        emit(_Verified(holds, checked, broken, findings), True, str)
    else:
        say(findings)
    if not holds:
        raise typer.Exit(1)
