"""The README's library example runs as written, in an empty directory, importing only
from `tidings.adapters`."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has a python example"
    return str(blocks[0])


def test_the_library_example_imports_only_from_tidings_adapters() -> None:
    imports = re.findall(r"^(?:from|import) (\S+)", _example(), re.M)
    assert [name for name in imports if name.startswith("tidings")] == ["tidings.adapters"]


def test_the_library_example_runs_in_an_empty_directory_and_again(tmp_path: Path) -> None:
    # A fresh interpreter, as a reader would run it: nothing of the tests is imported;
    # a reader who runs it again on the same file gets the same answers
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", _example()],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0] == "1000 OK 1"
        assert "OperationAccepted" in run.stdout and "NotificationAcked" in run.stdout
        assert lines[-1].startswith("2101 an ending code is a final answer")
    assert (tmp_path / "tidings.db").stat().st_size > 0


def test_the_curl_poll_cycle_waits_longer_than_a_ping_async_takes() -> None:
    # A reader who pastes the cycle gets its notification, not a race with the ending
    from tidings.cli.app import load

    shell = re.search(r"## A poll cycle with curl.*?```sh\n(.*?)```", README.read_text(), re.S)
    assert shell is not None
    waits = [float(n) for n in re.findall(r"^sleep (\S+)$", shell[1], re.M)]
    ping = next(p.default for p in load("serve").params if p.name == "ping_delay")
    assert waits and all(wait >= 2 * float(ping) for wait in waits)
