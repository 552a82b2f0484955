"""The `tidings` command: the root Typer app and its global options."""

import sys
from importlib.metadata import version

import typer

from . import (
    accounts,
    deliveries,
    integrity,
    log,
    operators,
    queue,
    serve,
    state,
    stats,
    tamper,
    trail,
    worker,
)
from .demo import command as demo

__all__ = ["app", "main"]

app = typer.Typer(
    name="tidings",
    help="Tell API clients how their asynchronous operations ended.",
    no_args_is_help=True,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tidings {version('tidings')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """tidings: WAPI notifications over a poll queue, URL push and e-mail."""


# Every command, in the order `--help` lists them; each module only defines its own.
app.add_typer(accounts.account_app, name="account")
app.add_typer(deliveries.endpoint_app, name="endpoint")
app.add_typer(tamper.key_app, name="key")
app.add_typer(operators.operator_app, name="operator")
for _module in (
    deliveries,
    demo,
    integrity,
    log,
    queue,
    serve,
    state,
    stats,
    tamper,
    trail,
    worker,
):
    app.add_typer(_module.commands)


def main() -> None:
    """Run the shell. A usage error (an unknown option, a value of the wrong type) is one
    line on stderr and exit 2, like every other user error, not Click's usage box."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # Typer's usage errors: bad option, no command
        print(f"error: {error.format_message()} (see --help)", file=sys.stderr)
        sys.exit(2 if error.exit_code == 1 else error.exit_code)
    except typer.Abort:  # Ctrl-C or EOF at a prompt
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
