"""`tidings bench`: the benchmark command, its subjects, peers and results table."""

from . import command

__all__ = ["command"]
