"""The customer center through HTTP: sign-in, sessions, CSRF, ownership, the delivery
method form with its per-field errors, the queue, keys; no secret in any page."""

import re

import pytest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route
from tidings.adapters.web.access import CENTER, Call, guarded
from tidings.domain import EmailChannel, UrlChannel

from tests.http.conftest import Running
from tests.web.client import WebClient, csrf_of

CSP = re.compile(r"default-src 'none'")
# An attribute that starts right at the closing quote of the one before it.
GLUED = re.compile(r'="[^"]*"[A-Za-z-]+=')


def signed_in(web: WebClient, server: Running) -> str:
    """Sign in as the server's account; the account's home page path."""
    answer = web.sign_in_center(server.login, server.password)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/center/"
    return f"/center/{server.login}/"


def test_a_page_carries_the_security_headers_and_no_script(web: WebClient, server: Running) -> None:
    answer = web.get("/center/sign-in")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert CSP.search(policy) and "script-src" not in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in answer.text
    assert '<label for="f-login">' in answer.text


def test_the_session_cookie_is_secure_httponly_strict(web: WebClient, server: Running) -> None:
    signed_in(web, server)
    session = next(c for c in web.set_cookies if c.startswith("__Host-center="))
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert flag.lower() in session.lower(), session


def test_a_wrong_password_is_refused_and_says_so(web: WebClient, server: Running) -> None:
    answer = web.sign_in_center(server.login, "wrong")
    assert answer.status_code == 401
    assert "Wrong login or password." in answer.text
    unknown = web.sign_in_center("nobody-here", "wrong")
    assert unknown.status_code == 401 and "Wrong login or password." in unknown.text
    assert "__Host-center" not in web.cookies


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    web: WebClient, server: Running
) -> None:
    home = signed_in(web, server)
    forged = {"method": "email", "address": "thief@example.com"}
    assert web.post(home, forged).status_code == 403
    assert web.post(home, forged, csrf="0" * 64).status_code == 403
    account = server.tidings.account(server.login)
    assert account is not None and account.channel.__struct_config__.tag == "poll"
    assert (
        web.post("/center/sign-in", {"login": server.login, "password": "123456"}).status_code
        == 403
    )


def test_another_logins_pages_answer_404(web: WebClient, server: Running) -> None:
    signed_in(web, server)
    server.tidings.open_account(f"{server.login}-other", "123456")
    for path in ("", "queue", "deliveries", "keys"):
        assert web.get(f"/center/{server.login}-other/{path}").status_code == 404
    mine = web.get(f"/center/{server.login}/queue")
    other = web.submit(f"/center/{server.login}/", f"/center/{server.login}-other/test", {})
    assert mine.status_code == 200 and other.status_code == 404


def test_without_a_session_pages_send_to_sign_in(web: WebClient, server: Running) -> None:
    answer = web.get(f"/center/{server.login}/queue")
    assert answer.status_code == 303 and answer.headers["location"] == "/center/sign-in"


def test_sign_out_ends_the_session_on_the_server(web: WebClient, server: Running) -> None:
    home = signed_in(web, server)
    kept = dict(web.cookies)
    page = web.get(home)
    assert web.post("/center/sign-out", {}, csrf=csrf_of(page.text)).status_code == 303
    replay = WebClient(web.http, cookies=kept)  # the old cookie, presented again
    assert replay.get(home).status_code == 303


def test_a_password_change_ends_every_session(web: WebClient, server: Running) -> None:
    home = signed_in(web, server)
    other = WebClient(web.http)
    signed_in(other, server)
    changed = web.submit(home + "keys", home + "keys/password",
                         {"password": "new-secret-1", "again": "new-secret-1"})  # fmt: skip
    assert changed.status_code == 303
    assert other.get(home).status_code == 303  # signed out elsewhere too
    assert web.sign_in_center(server.login, "new-secret-1").status_code == 303


@pytest.mark.parametrize("ending", ["suspend", "close"])
def test_a_suspension_or_a_closure_ends_every_session(
    web: WebClient, server: Running, ending: str
) -> None:
    # Given an account signed in twice
    login = f"{server.login}-{ending}"
    server.tidings.open_account(login, "123456")
    other = WebClient(web.http)
    for client in (web, other):
        assert client.sign_in_center(login, "123456").status_code == 303
    home = f"/center/{login}/"
    assert web.get(home).status_code == 200
    # When it is suspended or closed
    if ending == "suspend":
        server.tidings.suspend(login, "unpaid")
    else:
        server.tidings.close_account(login, "contract ended")
    # Then both are signed out, and signing in again is refused
    for client in (web, other):
        answer = client.get(home)
        assert (answer.status_code, answer.headers["location"]) == (303, "/center/sign-in")
    assert web.sign_in_center(login, "123456").status_code == 401


def test_the_method_form_puts_each_problem_next_to_its_field(
    web: WebClient, server: Running
) -> None:
    home = signed_in(web, server)
    answer = web.submit(home, home, {"method": "url", "success_url": "ftp://x",
                                     "error_url": "http://169.254.169.254/hook",
                                     "expected_status": "two hundred"})  # fmt: skip
    assert answer.status_code == 422
    assert re.search(r'id="e-success_url">not an http\(s\) URL', answer.text)
    assert re.search(r'id="e-error_url">refused: ', answer.text)  # the push guard
    assert 'id="e-expected_status">HTTP statuses' in answer.text
    # each field points at its problem, in attributes a space apart (HTML's rule)
    assert 'aria-describedby="e-success_url h-success_url" aria-invalid="true"' in answer.text
    assert not GLUED.search(answer.text)
    bad_mail = web.submit(home, home, {"method": "email", "address": "not-an-address"})
    assert 'id="e-address">not an e-mail address' in bad_mail.text
    account = server.tidings.account(server.login)
    assert account is not None and account.channel.__struct_config__.tag == "poll"


def test_the_method_form_saves_a_url_channel(
    web: WebClient, server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = signed_in(web, server)
    saved = web.submit(home, home, {"method": "url", "success_url": "https://example.com/ok",
                                    "expected_status": "200, 204", "body_format": "jobresult",
                                    "fallback": "poll", "ordered": "yes"})  # fmt: skip
    assert saved.status_code == 303
    account = server.tidings.account(server.login)
    assert account is not None
    assert account.channel == UrlChannel(success_url="https://example.com/ok",
                                         expected_status=frozenset({200, 204}),
                                         body_format="jobresult", fallback="poll",
                                         ordered=True)  # fmt: skip


@pytest.mark.parametrize(
    ("kept", "form"),
    [
        (UrlChannel(success_url="https://example.com/ok", connect_timeout=2.0, timeout=60.0,
                    pause_after=3, probe_every=600.0),
         {"method": "url", "success_url": "https://example.com/ok", "expected_status": "204"}),
        (EmailChannel("ops@example.com", timeout=90.0, pause_after=4, probe_every=900.0),
         {"method": "email", "address": "desk@example.com"}),
    ],
)  # fmt: skip
def test_saving_the_method_form_keeps_the_settings_it_does_not_show(
    web: WebClient, server: Running, kept: UrlChannel | EmailChannel, form: dict[str, str]
) -> None:
    server.tidings.configure_channel(server.login, kept)
    home = signed_in(web, server)
    assert web.submit(home, home, form).status_code == 303
    account = server.tidings.account(server.login)
    assert account is not None
    saved = account.channel
    assert isinstance(saved, type(kept)) and saved != kept  # the form's edit is made
    assert (saved.timeout, saved.pause_after, saved.probe_every) == (
        kept.timeout, kept.pause_after, kept.probe_every)  # fmt: skip
    if isinstance(saved, UrlChannel) and isinstance(kept, UrlChannel):
        assert saved.connect_timeout == kept.connect_timeout


def test_the_queue_shows_each_notification_as_notify_xml(web: WebClient, server: Running) -> None:
    home = signed_in(web, server)
    t = server.tidings
    for n in range(2):
        t.end(t.accept(server.login, f"c{n}", "domain-renew").svtrid, 1000, f"done {n}")
    page = web.get(home + "queue")
    assert page.status_code == 200
    assert page.text.index("done 0") < page.text.index("done 1")  # oldest first
    assert "&lt;notify&gt;" in page.text and "<dd>2</dd>" in page.text


def test_rotating_the_secret_shows_it_once_and_no_page_shows_a_digest(
    web: WebClient, server: Running
) -> None:
    home = signed_in(web, server)
    rotated = web.submit(home + "keys", home + "keys/secret", {})
    secret = re.search(r'id="new-secret">(whsec_[^<]+)<', rotated.text)
    assert secret is not None
    assert secret[1] not in web.get(home + "keys").text
    digest = server.tidings.account(server.login)
    assert digest is not None
    from tidings.adapters.wapi.auth import password_sha1

    for path in ("", "queue", "deliveries", "keys"):
        assert password_sha1(server.password) not in web.get(home + path).text


def test_a_suspended_account_cannot_sign_in(web: WebClient, server: Running) -> None:
    server.tidings.suspend(server.login, "unpaid")
    answer = web.sign_in_center(server.login, server.password)
    assert answer.status_code == 401 and "This account is suspended." in answer.text


def test_a_suspension_landing_after_the_session_check_answers_409(
    web: WebClient, server: Running
) -> None:
    # Given an account signed in, and a page that sends its test notification after the
    # session check, when the suspension lands between the two
    login = f"{server.login}-late"
    server.tidings.open_account(login, "123456")
    assert web.sign_in_center(login, "123456").status_code == 303

    async def late(call: Call) -> Response:
        await run_in_threadpool(server.tidings.suspend, call.who.name, "unpaid")
        await server.tidings.send_test_async(call.who.name)
        return call.page("error.html", error="sent")

    route = Route("/late-test", guarded(server.context, CENTER, late), methods=["POST"])
    server.app.router.routes.insert(0, route)
    try:
        answer = web.submit(f"/center/{login}/", "/late-test", {})
    finally:
        server.app.router.routes.remove(route)
    # Then the state refuses it (409), with the refusal's text
    assert answer.status_code == 409 and ">Account suspended<" in answer.text
