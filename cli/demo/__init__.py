"""`tidings demo`: the whole job on this machine, with nothing to set up."""

from . import command

__all__ = ["command"]
