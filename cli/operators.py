"""`tidings operator ...`: the named operators of the console."""

from typing import Annotated

import typer
from tidings.domain import Code
from tidings.domain.operator import name_problem

from .options import Db, examples, open_tidings
from .output import Json, emit, table, usage, user_errors

__all__ = ["operator_app"]

operator_app = typer.Typer(
    help="Add, list and revoke console operators.",
    epilog=examples("tidings operator add alice", "tidings operator revoke alice"),
    no_args_is_help=True,
)

Name = Annotated[
    str, typer.Argument(metavar="NAME", help="The operator's name: a-z, 0-9, _ and -.")
]


@operator_app.command(
    "add",
    short_help="Add an operator; its token is shown once.",
    epilog="Example: tidings operator add alice",
)
def operator_add_command(name: Name, db: Db = "tidings.db", as_json: Json = False) -> None:
    """Add an operator and print its token, once: it signs in to /console/ with it.
    Only the token's SHA-256 is kept; a lost token is replaced by revoking the operator
    and adding it again."""
    if problem := name_problem(name):  # refused before a database is created
        raise usage(f"{int(Code.INVALID_PARAMETER)} {problem}")
    with user_errors(), open_tidings(db) as tidings:
        token = tidings.add_operator(name)
    emit({"name": name, "token": token}, as_json,
         lambda: f"added operator {name}\ntoken (shown once): {token}")  # fmt: skip


@operator_app.command(
    "list", short_help="Every operator, active or revoked.", epilog="Example: tidings operator list"
)
def operator_list_command(db: Db = "tidings.db", as_json: Json = False) -> None:
    """Every operator ever added: active or revoked, and how many actions each took."""
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        views = tidings.operators()
    rows = [
        (v.name, "active" if v.active else "revoked", v.added_at.isoformat(), v.actions)
        for v in views
    ]
    emit(views, as_json, lambda: table(None, ("name", "state", "added", "actions"), rows))


@operator_app.command(
    "revoke",
    short_help="Revoke an operator and its sessions.",
    epilog="Example: tidings operator revoke alice",
)
def operator_revoke_command(name: Name, db: Db = "tidings.db", as_json: Json = False) -> None:
    """Revoke an operator: its token stops working and its sessions end at once."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        tidings.revoke_operator(name)
        revoked = next(view for view in tidings.operators() if view.name == name)
    emit(revoked, as_json, lambda: f"revoked operator {name}")
