"""Tracing is switched by the standard `OTEL_*` variables alone, read once when a
process starts; without the extra it stays off and the server can say why."""

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import sys, json
if "--no-extra" in sys.argv:
    sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
from tidings.adapters import telemetry
print(json.dumps([telemetry.ON, telemetry.unmet()]))
"""


def _switch(env: dict[str, str], *flags: str) -> tuple[bool, str | None]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, *flags],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    on, unmet = json.loads(run.stdout)
    return on, unmet


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_SERVICE_NAME": "tidings"},
    ],
)
def test_off_unless_an_exporter_is_asked_for(env: dict[str, str]) -> None:
    assert _switch(env) == (False, None)


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_TRACES_EXPORTER": "console"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_on_when_an_exporter_is_asked_for(env: dict[str, str]) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    assert _switch(env) == (True, None)


def test_asked_for_without_the_extra_is_off_and_says_so() -> None:
    on, unmet = _switch({"OTEL_TRACES_EXPORTER": "otlp"}, "--no-extra")
    assert not on and unmet is not None and "otel extra" in unmet
