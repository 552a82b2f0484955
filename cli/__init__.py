"""The `tidings` admin shell (Typer)."""

from .app import app, main

__all__ = ["app", "main"]
