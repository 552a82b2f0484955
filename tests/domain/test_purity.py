"""The domain is pure: no adapters, no I/O, no clock, no randomness.

Two checks. Statically, every .py file of the installed `tidings.domain` package is parsed
with `ast`: no forbidden import (absolute, `from` or relative), no clock read
(`.now()`, `.utcnow()`, `.today()`), no `open`/`input`/`print` (nor `exec`, `eval`,
`__import__`, which would get round the import check). At run time, a fresh interpreter
imports every domain module, then installs an audit hook and drives each decider through
its main paths: no file, socket, os, time, subprocess or import event may be raised. A
control step after that proves the hook was listening. (Reading the clock or `random`
raises no audit event; the static check is what keeps those out.)
"""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tidings.domain

PACKAGE = "tidings.domain"
DOMAIN_FILES = sorted(
    path for root in tidings.domain.__path__ for path in Path(root).resolve().rglob("*.py")
)

FORBIDDEN_MODULES = frozenset(
    {
        # our own outer layers, and the store
        "adapters",
        "cli",
        "eventsourcing",
        "tidings.adapters",
        "tidings.cli",
        # I/O, clock, randomness, processes
        "time",
        "random",
        "secrets",
        "os",
        "io",
        "socket",
        "sqlite3",
        "pathlib",
        "subprocess",
        "asyncio",
        "threading",
        "urllib.request",
        "http",
        "httpx",
        "uuid",
        "shutil",
        "tempfile",
        "logging",
        # ways round the list above, and more of the same
        "builtins",
        "importlib",
        "ctypes",
        "sys",
        "multiprocessing",
        "concurrent",
        "signal",
        "select",
        "selectors",
        "ssl",
        "smtplib",
        "glob",
        "mmap",
        # the project's infrastructure dependencies
        "aiosmtplib",
        "psycopg",
        "starlette",
        "uvicorn",
        "typer",
        "rich",
    }
)
CLOCK_ATTRIBUTES = frozenset({"now", "utcnow", "today"})
FORBIDDEN_CALLS = frozenset({"open", "input", "print", "breakpoint", "exec", "eval", "__import__"})


def _is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(f"{bad}.") for bad in FORBIDDEN_MODULES)


def _resolve(package: str, level: int, module: str | None) -> str:
    """The absolute name of `from <level dots><module> import ...` inside `package`."""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, *([module] if module else [])])


def impurities(source: str, package: str = PACKAGE) -> list[str]:
    """What in `source` (a module of `package`) breaks the domain's purity, or []."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve(package, node.level, node.module)
            if _is_forbidden(base):
                found.append(f"from {base} import ...")
            found += [
                f"from {base} import {a.name}"
                for a in node.names
                if not _is_forbidden(base) and _is_forbidden(f"{base}.{a.name}")
            ]
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_ATTRIBUTES:
            found.append(f"clock read .{node.attr} (line {node.lineno})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(f"call of {node.func.id}() (line {node.lineno})")
    return found


def _package_of(path: Path) -> str:
    for root in tidings.domain.__path__:
        root_path = Path(root).resolve()
        if path.is_relative_to(root_path):
            inner = path.parent.relative_to(root_path).parts
            return ".".join([PACKAGE, *inner])
    raise AssertionError(f"{path} is not in {PACKAGE}")


# --- Static -----------------------------------------------------------------------------
def test_the_domain_package_has_the_expected_modules() -> None:
    names = {path.stem for path in DOMAIN_FILES}
    assert {"account", "operation", "mailbox", "delivery", "retry", "decider"} <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: path.name)
def test_no_domain_module_imports_io_clock_randomness_or_outer_layers(path: Path) -> None:
    assert impurities(path.read_text(encoding="utf-8"), _package_of(path)) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "import os.path",
        "import random as r",
        "import urllib.request",
        "from urllib import request",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "import time\nx = time.time()",
        "clock = __import__('datetime').datetime.now",
        "from eventsourcing.application import Application",
        "from tidings.adapters import store",
        "from tidings import cli",
        "from .. import adapters",
        "from ..cli import app",
        "import http.client",
        "from http import HTTPStatus",
        "import logging",
        "print('hello')",
        "data = open('x').read()",
        "name = input()",
        "def f():\n    import socket\n    return socket",
        "import importlib\nimportlib.import_module('os')",
        "eval('1')",
    ],
)
def test_the_purity_check_catches(source: str) -> None:
    assert impurities(textwrap.dedent(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, timedelta\nlater = now + timedelta(seconds=5)",
        "from urllib.parse import urlsplit",
        "import re\nimport math",
        "from msgspec import Struct",
        "from . import account\nfrom .codes import Code",
        "from ..domain import mailbox",
        "def decide(state, command, now):\n    return []",
    ],
)
def test_the_purity_check_lets_pure_code_through(source: str) -> None:
    assert impurities(source) == []


# --- At run time --------------------------------------------------------------------------
_RUNTIME = r"""
import importlib, json, os, pkgutil, sys
from datetime import UTC, datetime, timedelta

import tidings.domain as domain

for info in pkgutil.walk_packages(domain.__path__, prefix="tidings.domain."):
    importlib.import_module(info.name)

from tidings.domain import (
    ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, OPERATION, Code, EmailChannel, Outcome, Rejection,
    RetryPolicy, UrlChannel, fold, next_delay, push_target,
)
from tidings.domain import account as acc, delivery as dlv, mailbox as mbx, operation as op
from tidings.domain import endpoint as ept
from tidings.domain import dispatch, serverrun

WATCHED = ("open", "socket.", "os.", "time.", "subprocess.", "shutil.", "sqlite3.",
           "urllib.", "http.", "ctypes.", "glob.", "tempfile.", "import", "exec", "compile")
seen = []


def hook(event, args):
    if event.startswith(WATCHED):
        seen.append(event)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(decider, commands, now=T0):
    state, events = decider.initial, []
    for command in commands:
        now += timedelta(seconds=10)
        result = decider.decide(state, command, now)
        if not isinstance(result, Rejection):
            for event in result:
                state = decider.evolve(state, event)
            events += result
    assert fold(decider, events) == state
    return state, events


url = UrlChannel(success_url="https://client.example/ok", error_url="http://[::1")
commands = {
    "account": [
        acc.OpenAccount(login="tester", password_sha1="5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
                        signing_secret="s3cret-s3cret-16", allowed_ips=("192.0.2.1",)),
        acc.ConfigureChannel(url),
        acc.ConfigureChannel(UrlChannel(success_url="https://client.example/ok")),
        acc.ConfigureChannel(EmailChannel("ops@client.example")),
        acc.SetRetryPolicy(RetryPolicy(schedule=(1.0, 2.0))),
        acc.RotateSecret("another-secret-16"), acc.SetIpAllowList(()),
        acc.ChangePassword("7c4a8d09ca3762af61e59520943dc26494f8941b"),
        acc.SuspendAccount("fraud"), acc.SuspendAccount("again"), acc.ResumeAccount(),
        acc.CloseAccount("gone"),
        acc.OpenAccount(login="tester", password_sha1="x", signing_secret="x"),
    ],
    "operation": [
        op.AcceptOperation(svtrid="sv", cltrid="cl", command="ping-async", login="tester"),
        op.RecordStep("halfway"), op.RecordStep(""),
        op.EndOperation(code=1000, result="OK", data={"a": 1}, batch_state="Successfull"),
        op.EndOperation(code=1000, result="OK"),
    ],
}
outcome = Outcome(code=1000, result="OK", timestamp=T0, cltrid="cl", svtrid="sv",
                  command="ping-async")
commands["mailbox"] = [
    mbx.PollNotification(svtrid="p0", polls=True),
    mbx.EnqueueNotification(outcome), mbx.EnqueueNotification(outcome),
    mbx.PollNotification(svtrid="p1", polls=True), mbx.PollNotification(svtrid="p2", polls=True),
    mbx.PollNotification(svtrid="p3", polls=False),
    mbx.AckNotification(notification_id="2", polls=True),
    mbx.AckNotification(notification_id="abc", polls=True),
    mbx.AckNotification(notification_id="99999999999999999999", polls=True),
    mbx.AckNotification(notification_id="1", polls=True),
    mbx.AckNotification(notification_id="1", polls=True),
]
commands["delivery"] = [
    dlv.StartAttempt(),
    dlv.ScheduleDelivery(login="tester", notification_id=1, medium="url",
                         target="https://client.example/ok", expected_status=frozenset({200}),
                         retry_policy=RetryPolicy(schedule=(5.0, 5.0))),
    dlv.StartAttempt(), dlv.RecordAttempt(status=500, duration_ms=3.0, jitter=0.5),
    dlv.StartAttempt(), dlv.RecordAttempt(status=None, error="timeout", duration_ms=3.0,
                                          retry_after=float("nan")),
    dlv.StartAttempt(), dlv.RecordAttempt(status=503, duration_ms=3.0, retry_after=1e9),
    dlv.RequeueDelivery(), dlv.StartAttempt(),
    dlv.RecordAttempt(status=200, duration_ms=3.0), dlv.GiveUp("late"),
]
commands["endpoint"] = [
    ept.ClaimProbe(), ept.RecordOutcome(ok=False, pause_after=2, probe_every=5.0),
    ept.RecordOutcome(ok=False, pause_after=2, probe_every=5.0), ept.ClaimProbe(),
    ept.RecordOutcome(ok=True), ept.ResumeEndpoint(),
]
deciders = {"account": ACCOUNT, "operation": OPERATION, "mailbox": MAILBOX, "delivery": DELIVERY,
            "endpoint": ENDPOINT}

sys.addaudithook(hook)  # from here on, nothing may touch the outside world

for name, decider in deciders.items():
    state, events = run(decider, commands[name])
    assert events, name
state, _ = run(OPERATION, commands["operation"])
outcome = op.outcome(state)
push_target(url, outcome)
next_delay(RetryPolicy(), 3, -1.0, 30.0)
mbx.peek(run(MAILBOX, commands["mailbox"])[0])
opened, _ = run(ACCOUNT, commands["account"][:2])
due, _ = run(DELIVERY, commands["delivery"][1:2])
claimed = dispatch.claim(due, opened, ept.initial, dlv.initial,
                         dispatch.ClaimAttempt(claimant="p"), T0 + timedelta(hours=1))
started = fold(DELIVERY, claimed.delivery, due)
dispatch.settle(started, opened, ept.initial, mbx.initial,
                dlv.RecordAttempt(status=410, duration_ms=1.0), T0 + timedelta(hours=2))
serverrun.job_outcome(serverrun.FILES, {"State": "Failed"})
dispatch.signing_secrets("a", "b", T0, T0)
[code.text for code in Code]

during = list(seen)
open(os.devnull).close()  # the control: the hook must see these
os.listdir(os.curdir)
print(json.dumps({"during": during, "control": seen[len(during):]}))
"""


def test_deciding_raises_no_io_clock_or_import_audit_events() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _RUNTIME],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "open" in report["control"], f"the audit hook heard nothing: {report}"
    assert "os.listdir" in report["control"], f"the audit hook heard nothing: {report}"
    assert report["during"] == [], "the domain touched the outside world"
