"""The code says what a caller must know; it keeps no measurement diary.

Docstrings and comments in `domain/`, `adapters/` and `cli/` hold no date, load average,
commit id or "sitting": a figure a design rests on lives in docs/decisions.md, with the
command that measures it again.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "adapters", "cli")

# A bare date (a diary's); a full ISO 8601 timestamp (`2026-11-22T10:00:00Z`) is a format
# example a caller needs, so a date followed by `T` and an hour is not one.
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b(?!T\d)")
_LOAD = re.compile(r"\bload(?:\s+average|\s+avg)?(?:\s+of)?\s+\d", re.IGNORECASE)
_SITTING = re.compile(r"\bsitting\b", re.IGNORECASE)
# A commit as people cite one: a short id (7-12 hex digits, letters and digits mixed),
# or any length after "commit" or "main at". A 40-digit digest in a wire example (WAPI's
# SHA-1 auth values) is not one.
_SHORT_HEX = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,12}\b")
_CITED = re.compile(r"\b(?:commit|main at|at commit)\s+[0-9a-f]{7,40}\b", re.IGNORECASE)
RULES = {
    "a date": _DATE,
    "a load average": _LOAD,
    "a commit id": _SHORT_HEX,
    "a cited commit": _CITED,
    "the word sitting": _SITTING,
}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def prose(source: str) -> list[tuple[int, str]]:
    """Each line of a comment or docstring in `source`, with its line number."""
    lines = source.splitlines()
    found: set[int] = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                end = body[0].end_lineno or body[0].lineno
                found.update(range(body[0].lineno, end + 1))
    return [(n, lines[n - 1]) for n in sorted(found)]


def diary(source: str) -> list[str]:
    """What in `source`'s comments and docstrings reads as a measurement diary."""
    return [
        f"{number}: {what}: {line.strip()}"
        for number, line in prose(source)
        for what, rule in RULES.items()
        if rule.search(line)
    ]


@pytest.mark.parametrize(
    "line, caught",
    [
        ("# measured on 2026-11-30", True),
        ('"""at load 4-5, two CPUs"""', True),
        ("# load average 5.8", True),
        ("# beside main at 09e6dfd", True),
        ("# (same sitting)", True),
        ("# commit 0123456789abcdef0123456789abcdef01234567", True),
        ('"""An ISO time (`2026-11-22T10:00:00Z`)."""', False),
        ('"""gives `ac28237e80e68efa3bfd07f42dca3d41c5986e01`."""', False),
        ("# the store's load of a stream (1,000 events)", False),
    ],
)
def test_the_rules_catch_a_diary_and_spare_a_caller_s_facts(line: str, caught: bool) -> None:
    assert bool(diary(line + "\n")) is caught


def test_no_docstring_or_comment_in_the_code_is_a_measurement_diary() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{entry}"
        for path in _sources()
        for entry in diary(path.read_text(encoding="utf-8"))
    ]
    assert not found, "move the figure to docs/decisions.md:\n" + "\n".join(found)


def test_the_decisions_are_written_down() -> None:
    assert (ROOT / "docs" / "decisions.md").is_file()
