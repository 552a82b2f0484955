"""The `tidings` command: the root Typer app and its global options.

A command's module is imported only when that command runs (or shows its help): the
server, the store and the HTTP client take most of a second to import, and
`tidings --help` needs none of them. `tidings --help` lists each command with the short
help written here (a test keeps it equal to the command's own).
"""

import importlib
import logging
import sys
from importlib.metadata import version
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["COMMANDS", "app", "main"]

# Every command, in the order `--help` lists them: its name, the module that defines it
# (and the Typer there: `commands` holds a module's own commands, an `..._app` a group),
# and its short help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "account": ("accounts", "account_app", "Open, list, show, configure and close accounts."),
    "endpoint": ("deliveries", "endpoint_app", "The health of push endpoints."),
    "key": ("tamper", "key_app", "Keys kept outside the database: signing, sealing."),
    "operator": ("operators", "operator_app", "Add, list and revoke console operators."),
    "deliveries": ("deliveries", "commands", "Pushed notifications and how each stands."),
    "redeliver": ("deliveries", "commands", "Push given-up notifications again."),
    "demo": ("demo.command", "commands", "Run a notification round trip, end to end, here."),
    "replay": ("integrity", "commands", "Rebuild every stream from the log and compare."),
    "verify": ("integrity", "commands", "Check the hash chain and the signed checkpoints."),
    "log": ("log", "commands", "The event log, oldest first."),
    "queue": ("queue", "commands", "An account's poll queue."),
    "poll": ("queue", "commands", "poll-req as the client sends it."),
    "ack": ("queue", "commands", "poll-ack as the client sends it."),
    "serve": ("serve", "commands", "Serve WAPI, the JSON API, Merchants jobs and the pages."),
    "state": ("state", "commands", "A stream as it was at a time."),
    "stats": ("stats", "commands", "The figures an operator looks at first."),
    "checkpoint": ("tamper", "commands", "Print the latest signed checkpoint of the log."),
    "prove": ("tamper", "commands", "Print inclusion or consistency proofs."),
    "trail": ("trail", "commands", "The whole story of an operation or a notification."),
    "witness": ("witness", "commands", "Cosign a log's checkpoints once it extends the last."),
    "worker": ("worker", "commands", "Push notifications and end the server's operations."),
}


def load(name: str) -> TyperCommand | TyperGroup:
    """The click command `name` (a group for `account`, `endpoint`, `key`)."""
    module, attribute, _ = COMMANDS[name]
    defined: typer.Typer = getattr(importlib.import_module(f"tidings.cli.{module}"), attribute)
    # Under a root of its own, as Typer builds a sub-command: plain help, no completion.
    holder = typer.Typer(add_completion=False, rich_markup_mode=None)
    holder.add_typer(defined, name=None if attribute == "commands" else name)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    assert isinstance(command, TyperCommand | TyperGroup)
    return command


class _Lazy(TyperGroup):
    """The root group: commands loaded on first use, listed from `COMMANDS`."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> TyperCommand | TyperGroup | None:
        return load(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


app = typer.Typer(
    name="tidings",
    cls=_Lazy,
    help="Tell API clients how their asynchronous operations ended.",
    epilog="Example: tidings account add shop --password-stdin; tidings serve --port 8080; "
    "tidings <command> --help for each command's options and examples.",
    no_args_is_help=True,
    rich_markup_mode=None,
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
    # A command's own error is its one line on stderr: the library's log records (a
    # store outage's `store_unreachable`...) are not printed beside it as raw dicts by
    # Python's last-resort handler. `serve` and `worker` set up real logging instead.
    tidings_log = logging.getLogger("tidings")
    if not any(isinstance(h, logging.NullHandler) for h in tidings_log.handlers):
        tidings_log.addHandler(logging.NullHandler())


def main() -> None:
    """Run the shell. A usage error (an unknown option, a value of the wrong type) is one
    line on stderr and exit 2, like every other user error, not Click's usage box."""
    try:
        code: Any = app(standalone_mode=False)
    except typer.TyperException as error:  # Typer's usage errors: bad option, no command
        # Typer words a bad choice as a validator does ("Value error, 'x' is not one of");
        # the user needs only the sentence
        said = error.format_message().replace("Value error, ", "")
        print(f"error: {said} (see --help)", file=sys.stderr)
        sys.exit(2 if error.exit_code == 1 else error.exit_code)
    except typer.Abort:  # Ctrl-C or EOF at a prompt
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
