"""Credentials of a recorded init request are replaced before the log sees them."""

import pytest
from tidings.domain import InitRequest
from tidings.domain.redaction import REDACTED, redacted


def request(uri: str = "https://api.example/x", **headers: str) -> InitRequest:
    return InitRequest(
        method="POST",
        uri=uri,
        content_type="application/json",
        client_ip="10.0.0.1",
        headers=tuple(headers.items()),
    )


@pytest.mark.parametrize(
    "name", ["Authorization", "cookie", "Proxy-Authorization", "X-API-KEY", "x-Token"]
)
def test_secret_headers_are_redacted_whatever_their_case(name: str) -> None:
    kept = redacted(request(**{name: "s3cr3t", "Accept": "*/*"}))
    assert kept.headers == ((name, REDACTED), ("Accept", "*/*"))


@pytest.mark.parametrize("param", ["token", "key", "api_key", "password", "secret", "access_token"])
def test_secret_looking_query_parameters_are_redacted(param: str) -> None:
    kept = redacted(request(f"https://api.example/x?{param}=s3cr3t&page=2"))
    assert "s3cr3t" not in kept.uri and kept.uri.endswith("&page=2")


def test_more_parameter_names_can_be_named() -> None:
    assert "s3cr3t" not in redacted(request("https://a.example/?sig=s3cr3t"), ("sig",)).uri


def test_a_request_without_secrets_is_kept_as_it_is() -> None:
    plain = request("https://api.example/x?monkey=1&page=2", Accept="*/*")
    assert redacted(plain) == plain
