"""Options shared by the shell's commands."""

from typing import Annotated

import typer

__all__ = ["Db"]

Db = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="TIDINGS_DB",
        help="SQLite file path or postgresql:// URL.",
        show_default=True,
    ),
]
