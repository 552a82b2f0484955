"""`python -m bench`, from a clone of tidings: the bench as a command of its own."""

import typer

from bench.command import bench_command

app = typer.Typer(add_completion=False)
app.command(epilog="Example: python -m bench --quick")(bench_command)

if __name__ == "__main__":
    app()
