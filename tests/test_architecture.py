"""ARCHITECTURE.md names every module a newcomer meets: each module of the shell and of
the library's packages is named there (by its file name), so the map has no blank."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = [
    "cli", "cli/demo", "adapters", "adapters/store", "adapters/push", "adapters/usecases",
    "adapters/ledger", "adapters/audit", "adapters/http", "adapters/web", "adapters/wapi",
    "adapters/merchants", "domain",
]  # fmt: skip


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_module_is_on_the_map(folder: str) -> None:
    named = set(re.findall(r"[a-z_]+\.py", (ROOT / "ARCHITECTURE.md").read_text()))
    modules = sorted(p.name for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py")
    assert [name for name in modules if name not in named] == []
