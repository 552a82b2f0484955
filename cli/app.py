"""The `tidings` command: the root Typer app and its global options."""

from importlib.metadata import version

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="tidings",
    help="Tell API clients how their asynchronous operations ended.",
    no_args_is_help=True,
    add_completion=False,
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


def main() -> None:
    app()


# Command modules register themselves on `app`; importing them here makes them visible.
from . import bench, integrity, serve, tamper, worker  # noqa: E402, F401
