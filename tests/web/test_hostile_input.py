"""The center and the console under hostile and careless input: forged cookies, CSRF
tokens and numbers outside ASCII, random form fields and query strings. Every answer is
a page (never a 500), a refused request writes nothing to the log, the server still
answers, the log still verifies and no secret reaches the log output."""

import base64
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.http.conftest import ADMIN_TOKEN, Running, fuzz, log_length
from tests.web.client import WebClient, csrf_of

_names = itertools.count(1)
FUZZ = fuzz(40)


@pytest.fixture
def quiet_log(server: Running, caplog: pytest.LogCaptureFixture) -> Iterator[Running]:
    """The server, checked after the test: still answering, its log intact, and no
    password or token of the test in what it logged."""
    caplog.set_level("DEBUG")
    yield server
    assert server.client.get("/healthz").status_code == 200
    assert server.tidings.verify_log()[1] is None
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (server.password, ADMIN_TOKEN, *_tokens):
        assert secret not in logged
    assert "Traceback" not in logged


_tokens: list[str] = []


def operator(web: WebClient, server: Running) -> str:
    name = f"hostile{next(_names)}"
    token = server.tidings.add_operator(name)
    _tokens.append(token)
    assert web.sign_in_console(token).status_code == 303
    return name


def forged_cookie(name: str, login: str) -> bytes:
    """A session cookie with an unsigned, unexpired payload and a signature that is
    not ASCII (as the browser sends it: UTF-8 bytes)."""
    payload = base64.urlsafe_b64encode(f"{login}|abc|9999999999".encode()).decode()
    return f"{name}={payload.rstrip('=')}.".encode() + "\u00e9".encode()


@pytest.mark.parametrize(
    ("cookie", "path"),
    [
        ("__Host-center", "/center/{login}/"),
        ("__Host-center", "/center/sign-in"),
        ("__Host-console", "/console/accounts"),
    ],
)
def test_a_forged_cookie_with_a_signature_outside_ascii_is_no_session(
    quiet_log: Running, cookie: str, path: str
) -> None:
    server = quiet_log
    url = path.format(login=server.login)
    answer = server.client.get(url, headers={"cookie": forged_cookie(cookie, server.login)})
    assert answer.status_code in (200, 303), answer.text
    assert answer.status_code == 200 or answer.headers["location"].endswith("/sign-in")


@pytest.mark.parametrize("area", ["center", "console"])
def test_a_csrf_token_outside_ascii_is_refused_and_signs_nobody_in(
    quiet_log: Running, web: WebClient, area: str
) -> None:
    server = quiet_log
    web.get(f"/{area}/sign-in")  # the pre-session cookie the token is bound to
    before = log_length(server)
    fields = {"login": server.login, "password": server.password, "token": "x.y"}
    answer = web.post(f"/{area}/sign-in", fields, csrf="\u00e9")
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert log_length(server) == before


@pytest.mark.parametrize(
    ("action", "field"),
    [("bulk-ack", "up_to"), ("redeliver", "notification_id")],
)
@pytest.mark.parametrize("number", ["\u00b2", "\u0661", "9" * 5000])
def test_console_numbers_outside_ascii_digits_are_refused(
    quiet_log: Running, web: WebClient, action: str, field: str, number: str
) -> None:
    server = quiet_log
    operator(web, server)
    base = f"/console/accounts/{server.login}"
    token = csrf_of(web.get(base).text)
    before = log_length(server)
    answer = web.post(f"{base}/{action}", {field: number}, csrf=token)
    assert answer.status_code == 422, answer.text
    assert "whole number" in answer.text
    assert log_length(server) == before


@pytest.mark.parametrize("statuses", ["\u0662\u0660\u0660", "2_00", "+200", "200, \u00b2"])
def test_center_statuses_outside_ascii_digits_are_refused(
    quiet_log: Running, web: WebClient, statuses: str
) -> None:
    server = quiet_log
    assert web.sign_in_center(server.login, server.password).status_code == 303
    base = f"/center/{server.login}/"
    before = log_length(server)
    form = {"method": "url", "success_url": "https://example.com/n", "expected_status": statuses}
    answer = web.submit(base, base, form)
    assert answer.status_code == 422, answer.text
    assert "HTTP statuses, as numbers" in answer.text
    assert log_length(server) == before


@pytest.mark.parametrize("after", ["\u00b2", "\u0661", "9" * 5000, "-1"])
def test_the_account_list_takes_any_cursor(quiet_log: Running, web: WebClient, after: str) -> None:
    operator(web, quiet_log)
    answer = web.http.get("/console/accounts", params={"after": after}, headers=web._headers())
    assert answer.status_code in (200, 422), answer.text
    assert web.get("/console/accounts").status_code == 200  # the session still holds


@pytest.mark.parametrize("ident", ["\u00b2", "\u0661", "9" * 40, "-1", "x"])
def test_a_trail_by_notification_takes_any_id(
    quiet_log: Running, web: WebClient, ident: str
) -> None:
    server = quiet_log
    operator(web, server)
    answer = web.http.get(
        "/console/trail", params={"key": f"{server.login}:{ident}"}, headers=web._headers()
    )
    assert answer.status_code == 200, answer.text


TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\u00b2", "\u0661\u0662", "9" * 30, "-1", "0", "1e3",
                     "\x00", "%00", "../../etc/passwd", "2026-13-40T25:61", "\u00e9" * 300]),
)  # fmt: skip
ACTIONS = st.sampled_from(["suspend", "resume", "resume-endpoint", "redeliver", "bulk-ack", "x"])
FIELDS = st.sampled_from(
    ["reason", "target", "notification_id", "since", "delivered", "up_to", "csrf"]
)


@FUZZ
@given(action=ACTIONS, form=st.dictionaries(FIELDS, TEXT, max_size=4), query=TEXT)
def test_console_actions_take_any_form(
    shared_server: Running, action: str, form: dict[str, str], query: str
) -> None:
    """Every answer is a page or a redirect; a post with a wrong CSRF token writes
    nothing."""
    web = WebClient(shared_server.client)
    operator(web, shared_server)
    login = "fuzzed"
    if shared_server.tidings.account(login) is None:
        shared_server.tidings.open_account(login, "123456")
    base = f"/console/accounts/{login}"
    token = csrf_of(web.get(base).text)
    before = log_length(shared_server)
    answer = web.post(f"{base}/{action}", form, csrf=form.get("csrf", token))
    assert answer.status_code in (303, 403, 404, 409, 422), answer.text
    if answer.status_code != 303:
        assert log_length(shared_server) == before
    listed = web.http.get("/console/accounts", params={"q": query, "after": query},
                          headers=web._headers())  # fmt: skip
    assert listed.status_code in (200, 422), listed.text
    trail = web.http.get("/console/trail", params={"key": query}, headers=web._headers())
    assert trail.status_code == 200, trail.text


@FUZZ
@given(form=st.dictionaries(
    st.sampled_from(["method", "success_url", "error_url", "expected_status", "body_format",
                     "fallback", "ordered", "address", "login", "password", "again"]),
    TEXT, max_size=6))  # fmt: skip
def test_center_forms_take_any_fields(shared_server: Running, form: dict[str, str]) -> None:
    web = WebClient(shared_server.client)
    login = f"centered{next(_names)}"
    shared_server.tidings.open_account(login, "123456")
    assert web.sign_in_center(login, "123456").status_code == 303
    home = f"/center/{login}/"
    for path in ("", "keys/password"):
        token = csrf_of(web.get(home if not path else home + "keys").text)
        answer = web.post(home + path, form, csrf=token)
        assert answer.status_code in (303, 422), answer.text


@pytest.mark.parametrize("ident", ["9" * 5000, "9" * 30, "\u00b2", "-1"])
def test_a_delivery_page_takes_any_id(quiet_log: Running, web: WebClient, ident: str) -> None:
    server = quiet_log
    assert web.sign_in_center(server.login, server.password).status_code == 303
    home = f"/center/{server.login}/"
    token = csrf_of(web.get(home).text)
    before = log_length(server)
    assert web.get(f"{home}deliveries/{ident}").status_code == 404
    assert web.post(f"{home}deliveries/{ident}/redeliver", {}, csrf=token).status_code == 404
    assert log_length(server) == before


def multipart(fields: dict[str, str], charset: str) -> tuple[bytes, dict[str, str]]:
    """A multipart form in `charset`: Starlette decodes its fields with that codec, so
    `unicode_escape` turns the ASCII text `\\ud800` into a lone surrogate."""
    parts = b"".join(
        b'--zz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in fields.items()
    )
    content_type = f"multipart/form-data; boundary=zz; charset={charset}"
    return parts + b"--zz--\r\n", {"content-type": content_type}


@pytest.mark.parametrize("field", ["login", "password", "token"])
@pytest.mark.parametrize("charset", ["unicode_escape", "utf-7"])
def test_a_sign_in_form_that_decodes_to_a_lone_surrogate_is_refused(
    quiet_log: Running, web: WebClient, field: str, charset: str
) -> None:
    server = quiet_log
    area = "console" if field == "token" else "center"
    token = csrf_of(web.get(f"/{area}/sign-in").text)
    lone = "\\ud800" if charset == "unicode_escape" else "+2AA-"
    fields = {"csrf": token, "login": server.login, "password": server.password, field: lone}
    body, headers = multipart(fields, charset)
    before = log_length(server)
    answer = web.http.post(f"/{area}/sign-in", content=body, headers={**headers, **web._headers()})
    assert answer.status_code in (401, 403), answer.text
    assert log_length(server) == before


@pytest.mark.parametrize(
    ("action", "field"),
    [("suspend", "reason"), ("resume-endpoint", "target"), ("redeliver", "since")],
)
def test_a_console_form_that_decodes_to_a_lone_surrogate_is_refused(
    quiet_log: Running, web: WebClient, action: str, field: str
) -> None:
    server = quiet_log
    operator(web, server)
    base = f"/console/accounts/{server.login}"
    body, headers = multipart(
        {"csrf": csrf_of(web.get(base).text), field: "\\ud800"}, "unicode_escape"
    )
    before = log_length(server)
    answer = web.http.post(f"{base}/{action}", content=body, headers={**headers, **web._headers()})
    assert answer.status_code in (403, 422), answer.text
    assert log_length(server) == before
    account = server.tidings.account(server.login)
    assert account is not None and not account.suspended


def test_a_rotated_secret_and_a_new_password_reach_no_log_and_no_other_page(
    quiet_log: Running, web: WebClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = quiet_log
    assert web.sign_in_center(server.login, server.password).status_code == 303
    home = f"/center/{server.login}/"
    shown = web.submit(home + "keys", home + "keys/secret", {})
    secret = shown.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_") and shown.headers["cache-control"] == "no-store"
    password = "pw-new-\u010d-secret"
    changed = web.submit(home + "keys", home + "keys/password", {"password": password,
                                                                 "again": password})  # fmt: skip
    assert changed.status_code == 303
    everywhere = [
        caplog.text,
        "".join(str(r.args) for r in caplog.records),
        "".join(repr(entry) for entry in server.tidings.log()),
        server.admin("GET", f"/api/accounts/{server.login}").text,
        server.admin("GET", f"/api/trail/{server.login}/1").text,
    ]
    for text in everywhere:
        assert secret not in text and password not in text
    operator(web, server)
    console = web.get(f"/console/accounts/{server.login}").text
    assert secret not in console and password not in console


@pytest.mark.parametrize("area", ["center", "console"])
@pytest.mark.parametrize(
    "fields",
    [{"login": "x" * 70_000}, {f"f{n}": "1" for n in range(70)}],
    ids=["a field over 64 KiB", "70 fields"],
)
def test_a_form_past_its_limits_is_the_error_page(
    quiet_log: Running, web: WebClient, area: str, fields: dict[str, str]
) -> None:
    server = quiet_log
    token = csrf_of(web.get(f"/{area}/sign-in").text)
    before = log_length(server)
    answer = web.post(f"/{area}/sign-in", {**fields, "password": "x"}, csrf=token)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "the form is refused: " in answer.text and "Skip to content" in answer.text
    assert log_length(server) == before


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/center/nobody/nothing", 404), ("POST", "/console/nothing", 404),
     ("GET", "/console/health/verify", 405), ("GET", "/center/nobody/test", 405)],
)  # fmt: skip
def test_a_path_or_method_no_page_takes_is_the_error_page(
    quiet_log: Running, web: WebClient, method: str, path: str, status: int
) -> None:
    before = log_length(quiet_log)
    answer = web.http.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert f"{method} {path}" in answer.text and "Skip to content" in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
    assert status == 404 or answer.headers["allow"] == "POST"
    assert log_length(quiet_log) == before
