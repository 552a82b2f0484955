"""`tidings serve`'s options: bad values are one line and exit 2; proxy headers count only
from the proxies `--trusted-proxies` names."""

from pathlib import Path

import click
import pytest
import typer
from tidings.adapters.http.limits import trusted_networks
from tidings.cli.app import app
from typer.testing import CliRunner

from tests.http.conftest import serve, settings_for, wapi_auth

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--log-level", "loud"], "--log-level must be one of debug, info, warning, error"),
        (["--port", "-1"], "--port must be 0-65535"),
        (["--port", "70000"], "--port must be 0-65535"),
        (["--ping-delay", "-5"], "--ping-delay must be at least 0"),
        (["--job-delay", "nan"], "--job-delay must be at least 0"),
        (["--head-timeout", "0"], "--head-timeout must be at least 0.1"),
        (["--max-connections", "0"], "--max-connections must be at least 1"),
        (["--auth-failures", "0"], "--auth-failures must be at least 1"),
        (["--trusted-proxies", "10.0.0.0/8,proxy.example"], "'proxy.example' is not an IP"),
    ],
)
def test_bad_options_are_one_line(args: list[str], said: str, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = runner.invoke(app, ["serve", "--db", str(db), *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and said in result.output
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output
    assert not db.exists()  # refused before anything was opened


def test_trusted_proxies_are_networks() -> None:
    assert trusted_networks("") == ()
    assert trusted_networks("127.0.0.1, 10.1.2.3/8,::1") == (
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    )


@pytest.mark.parametrize(("trusted", "code"), [((), 2051), (("127.0.0.0/8",), 1000)])
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    trusted: tuple[str, ...], code: int, tmp_path: Path
) -> None:
    with serve(settings_for(str(tmp_path / "t.db")), trusted_proxies=trusted) as running:
        running.tidings.open_account("tester", "123456", allowed_ips=("10.9.9.9",))
        request = {"user": "tester", "auth": wapi_auth("tester", "123456"), "command": "ping"}
        forwarded = {"x-forwarded-for": "10.9.9.9"}
        answer = running.client.post("/wapi/json", json=request, headers=forwarded)
        assert answer.json()["response"]["code"] == code
        # The merchants surface sees the same address.
        job = running.client.post(
            "/merchants/products",
            content="<Product/>",
            headers={**forwarded, "x-ApplicationId": "tester", "x-Token": "123456"},
        )
        assert job.status_code == (403 if code == 2051 else 202)


def test_the_readme_names_every_limit_and_its_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Running it in production", 1)[1].split("\n## ", 1)[0]
    group = typer.main.get_command(app)
    serve = group.get_command(click.Context(group), "serve")  # type: ignore[attr-defined]
    general = {"--db", "--host", "--port", "--ping-delay", "--job-delay", "--log-level", "--help",
               "--no-worker", "--log-format"}  # fmt: skip
    limits = [name for param in serve.params for name in param.opts if name not in general]
    assert len(limits) >= 10
    for option in limits:
        assert f"`{option}" in section, f"README's production section lacks {option}"
