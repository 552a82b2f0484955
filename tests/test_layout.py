"""The layout holds: imports point down the layers and never in a circle, modules stay
small, and every `*.py` path the product's documents name exists.

Imports are read from the source (ast), not by importing: an import inside a function
or under `TYPE_CHECKING` is a dependency too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "adapters", "cli")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["tidings", *parts])


def _files() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


FILES = _files()


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _resolve(name: str) -> str | None:
    """The deepest module of ours that `name` (a dotted import target) names."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in FILES:
            return candidate
        parts.pop()
    return None


def _imported(module: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """(source, name) for each name `module` imports (`import a.b`: (a.b, None))."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                yield source, alias.name


def _reexports() -> dict[str, dict[str, str]]:
    """Per package of ours: each name its `__init__` imports, and the module it is from."""
    found: dict[str, dict[str, str]] = {}
    for module, path in FILES.items():
        if path.name == "__init__.py":
            found[module] = {
                name: _resolve(f"{source}.{name}") or _resolve(source) or source
                for source, name in _imported(module, path)
                if name
            }
    return found


REEXPORTS = _reexports()


def _targets(module: str, path: Path) -> Iterator[str]:
    """Every dotted name `module` imports: `from p import m` names `p.m` when `m` is a
    module of ours, the module it comes from when `p`'s `__init__` re-exports it, else
    `p`."""
    for source, name in _imported(module, path):
        if name is None:
            yield source
        elif f"{source}.{name}" in FILES:
            yield f"{source}.{name}"
        else:
            yield REEXPORTS.get(source, {}).get(name, source)


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Ours -> ours (the modules each module imports) and ours -> anything (as written)."""
    ours: dict[str, set[str]] = {}
    anything: dict[str, set[str]] = {}
    for module, path in FILES.items():
        names = set(_targets(module, path))
        anything[module] = names
        resolved = {_resolve(name) for name in names if name.startswith("tidings.")}
        # A module's own packages are loaded before it, whatever it imports from them.
        ours[module] = {target for target in resolved if target and not _under(module, target)}
    return ours, anything


OURS, ANYTHING = _graph()


_A = "tidings.adapters"
LIBRARY = f"{_A}.library"
# (rule, who may not import, what they may not import)
RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (
        "domain imports no adapter, shell or eventsourcing",
        ("tidings.domain",),
        (_A, "tidings.cli", "eventsourcing"),
    ),
    ("adapters import no shell", (_A,), ("tidings.cli",)),
    (
        "the store imports no read side, push, http or facade",
        (f"{_A}.store",),
        (f"{_A}.audit", f"{_A}.push", f"{_A}.http", LIBRARY),
    ),
    (
        "the ledger imports no store, read side or facade",
        (f"{_A}.ledger",),
        (f"{_A}.store", f"{_A}.audit", LIBRARY),
    ),
    ("push and audit import no facade", (f"{_A}.push", f"{_A}.audit"), (LIBRARY,)),
]
# A rule that does not hold yet, with why: marked xfail(strict), so it fails once it does.
PENDING: dict[str, str] = {}


def _breaches(importers: tuple[str, ...], imported: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in ANYTHING.items()
        if _under(module, *importers)
        for target in targets
        if _under(_resolve(target) or target, *imported)
    )


def _marked(rule: str) -> object:
    reason = PENDING.get(rule)
    return pytest.param(rule, marks=pytest.mark.xfail(strict=True, reason=reason) if reason else ())


@pytest.mark.parametrize("rule", [_marked(rule) for rule, _, _ in RULES])
def test_imports_point_down_the_layers(rule: str) -> None:
    importers, imported = next((i, d) for r, i, d in RULES if r == rule)
    assert not _breaches(importers, imported), rule


def test_only_the_store_talks_to_a_database_driver() -> None:
    found = sorted(
        f"{module} -> {target}"
        for module, targets in ANYTHING.items()
        if not _under(module, f"{_A}.store")
        for target in targets
        if _under(target, "sqlite3", "psycopg", "psycopg_pool")
    )
    assert not found


def test_the_store_meets_its_recorders_through_a_typed_protocol() -> None:
    # The store names what it needs of a recorder in one Protocol that mypy checks both
    # recorders against; it imports neither recorder, which eventsourcing builds by topic.
    from typing import Protocol, get_type_hints

    from tidings.adapters.store.application import Store
    from tidings.adapters.store.port import Recorder

    assert get_type_hints(Store.recorder.fget)["return"] is Recorder
    assert Protocol in Recorder.__mro__
    recorders = (f"{_A}.store.sqlite_recorder", f"{_A}.store.postgres_recorder")
    assert not set(ANYTHING[f"{_A}.store.application"]) & set(recorders)


@pytest.mark.parametrize("rule", [_marked("only the surface and the edges import the facade")])
def test_only_the_public_surface_and_the_edges_import_the_facade(rule: str) -> None:
    found = sorted(
        f"{module} -> {LIBRARY}"
        for module, targets in OURS.items()
        if LIBRARY in targets
        and not (module == _A or _under(module, f"{_A}.http", f"{_A}.web", "tidings.cli"))
    )
    assert not found, rule


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("rule", [_marked("no import circle")])
def test_no_module_imports_itself_through_others(rule: str) -> None:
    assert not _cycles(OURS), rule


def test_the_import_walk_sees_the_edges_it_checks() -> None:
    """The walk itself: it finds the store's edge to the ledger and the shell's to the
    facade, so an empty answer above means no edge, not a blind walk."""
    store = set().union(*(OURS[m] for m in OURS if _under(m, f"{_A}.store")))
    assert f"{_A}.ledger.entries" in store
    assert any(_under(m, "tidings.cli") for m, targets in OURS.items() if LIBRARY in targets)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Modules over the limit today, with their owners' work that brings them under it.
OVERSIZED: dict[str, str] = {}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            path,
            id=str(path.relative_to(ROOT)),
            marks=pytest.mark.xfail(strict=True, reason=OVERSIZED[str(path.relative_to(ROOT))])
            if str(path.relative_to(ROOT)) in OVERSIZED
            else (),
        )
        for path in sorted((ROOT / "adapters").rglob("*.py"))
    ],
)
def test_no_adapter_module_is_over_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines"


ADAPTERS_BUDGET = 8_000


@pytest.mark.xfail(strict=True, reason="adapters/ holds about 15,500 lines today")
def test_adapters_stay_within_their_budget() -> None:
    lines = sum(
        len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "adapters").rglob("*.py")
    )
    assert lines <= ADAPTERS_BUDGET, f"adapters/: {lines} lines"


_PY_PATH = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.py\b")


# Files a document asks its reader to write, not files of the clone.
READERS_FILES = {"README.md": {"receiver.py"}}


def _named_paths(document: str) -> set[str]:
    named = set(_PY_PATH.findall((ROOT / document).read_text(encoding="utf-8")))
    return named - READERS_FILES.get(document, set())


def _exists(named: str) -> bool:
    """A path names a file of the clone when some file's path ends with it (documents
    name `store/commit.py` for `adapters/store/commit.py`)."""
    named = named.removeprefix("./")
    return any(
        str(path.relative_to(ROOT)) == named or str(path.relative_to(ROOT)).endswith("/" + named)
        for path in _CLONE
    )


_CLONE = [
    path
    for path in ROOT.rglob("*.py")
    if not any(part in {".venv", "build", ".git", "node_modules"} for part in path.parts)
]


@pytest.mark.parametrize("document", ["README.md", "ARCHITECTURE.md"])
def test_every_python_path_a_document_names_exists(document: str) -> None:
    missing = sorted(named for named in _named_paths(document) if not _exists(named))
    assert not missing, f"{document} names files that do not exist: {missing}"
