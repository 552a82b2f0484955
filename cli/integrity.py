"""`tidings replay` and `tidings verify`: check the live state and the log itself."""

import typer
from tidings.adapters.audit.integrity import CorruptEvent, replay, verify

from .options import Db, open_store
from .output import progress
from .tamper import Cosigners, Quorum, Trusted, Witnesses, report

__all__ = ["replay_command", "verify_command"]

commands = typer.Typer()
"""This module's commands; `app.py` adds them to the shell."""


@commands.command("replay", epilog="Example: tidings replay --db tidings.db")
def replay_command(db: Db = "tidings.db") -> None:
    """Rebuild every stream from the log and compare it with the live state.

    Exit code 1 when any stream differs.
    """
    store = open_store(db, read_only=True)
    try:
        total = store.max_position()
        with progress(total, "replaying") as bar:
            task = bar.add_task("replay", total=total)
            report = replay(store, lambda n: bar.advance(task, n))
    except CorruptEvent as corrupt:
        typer.echo(f"CORRUPT: {corrupt}", err=True)
        raise typer.Exit(1) from corrupt
    finally:
        store.close()
    typer.echo(f"replayed {report.events} events in {report.streams} streams")
    for mismatch in report.mismatches:
        typer.echo(
            f"MISMATCH {mismatch.category} {mismatch.stream}:\n"
            f"  rebuilt: {mismatch.rebuilt}\n  live:    {mismatch.live}",
            err=True,
        )
    if report.mismatches:
        typer.echo(f"{len(report.mismatches)} stream(s) differ from the log", err=True)
        raise typer.Exit(1)
    typer.echo("every stream matches the log")


@commands.command(
    "verify", epilog="Example: tidings verify --db postgresql://tidings@db.internal/tidings"
)
def verify_command(
    db: Db = "tidings.db",
    witness: Witnesses = None,
    key: Trusted = None,
    witness_key: Cosigners = None,
    quorum: Quorum = 0,
) -> None:
    """Check the hash chain over the log (reports the first broken position), the signed
    checkpoints, and that the log extends every witnessed checkpoint (`--witness`, with
    the log's key pinned: `--key`), each cosigned by `--quorum` of the `--witness-key`s.

    Exit code 1 when the chain is broken or a checkpoint does not hold.
    """
    store = open_store(db, read_only=True)
    try:
        total = store.max_position()
        with progress(total, "verifying") as bar:
            task = bar.add_task("verify", total=total)
            checked, broken = verify(store, lambda n: bar.advance(task, n))
        if broken is not None:
            typer.echo(
                f"BROKEN at position {broken.position}: {broken.reason} "
                f"({checked} entries before it are intact)",
                err=True,
            )
        else:
            typer.echo(f"chain intact: {checked} entries")
        holds = report(store, witness or [], key or [], witness_key, quorum)
    finally:
        store.close()
    if broken is not None or not holds:
        raise typer.Exit(1)
