"""The `tidings` console script: installed, with --version and --help."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def _tidings(*args: str) -> subprocess.CompletedProcess[str]:
    # The script pip installed next to this interpreter: the one a user runs.
    script = Path(sys.executable).with_name("tidings")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    result = _tidings("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tidings {version('tidings')}"


def test_help_lists_the_commands() -> None:
    result = _tidings("--help")
    assert result.returncode == 0
    for command in ("serve", "account", "replay", "verify", "demo"):
        assert command in result.stdout
