"""The center and the console in a real browser (headless Chromium): each delivery
method chosen on the page and a notification seen arriving through it (a receiver and
an SMTP sink on 127.0.0.1), a failing endpoint's attempts, redelivery, a rotated
secret, a trail followed, a revoked operator refused, a CSRF-less post refused, another
account's queue 404, and the pages used with JavaScript off. Each page is saved as a
screenshot under the test's temporary folder."""

import itertools
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.cli.demo.receivers import Arrival, smtp_sink
from tidings.cli.demo.servers import serving
from tidings.domain import RetryPolicy

from tests.http.conftest import Running, serve, settings_for
from tests.web.browser import Browser, chromium

pytestmark = pytest.mark.slow
# How long a pushed notification may take to arrive.
ARRIVAL_SECONDS = 20.0
_logins = itertools.count(1)


class Hooks:
    """A client's receiver: `/ok/<login>` answers 200, `/fail/<login>` 503."""

    def __init__(self) -> None:
        self.arrivals: queue.Queue[Arrival] = queue.Queue()
        self.app = Starlette(routes=[Route("/{kind}/{login}", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        login = request.path_params["login"]
        if request.path_params["kind"] == "fail":
            return Response("receiver down for maintenance", status_code=503)
        self.arrivals.put(Arrival("url", login, request.headers.get("content-type", ""), body))
        return Response("thanks", status_code=200)

    def next(self, channel: str, login: str) -> Arrival:
        """The next arrival for `login` by `channel`, within ARRIVAL_SECONDS."""
        while True:
            arrival = self.arrivals.get(timeout=ARRIVAL_SECONDS)
            if (arrival.channel, arrival.login) == (channel, login):
                return arrival


@dataclass
class Site:
    server: Running
    hooks: Hooks
    hooks_url: str

    def account(self, password: str = "center-pass-1") -> str:
        login = f"holder{next(_logins)}"
        self.server.tidings.open_account(login, password)
        return login


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    hooks = Hooks()
    with pytest.MonkeyPatch.context() as env, smtp_sink(hooks.arrivals) as smtp:
        env.setenv("TIDINGS_PUSH_ALLOW", "127.0.0.1/32")
        env.setenv("TIDINGS_SMTP_URL", f"smtp://{smtp}")
        env.setenv("TIDINGS_SMTP_FROM", "tidings@example.com")
        db = str(tmp_path_factory.mktemp("site") / "tidings.db")
        with serving(hooks.app) as hooks_url, serve(settings_for(db)) as server:
            yield Site(server, hooks, hooks_url)


def sign_in(browser: Browser, login: str, password: str = "center-pass-1") -> None:
    browser.go("/center/sign-in")
    browser.fill({"login": login, "password": password})
    browser.press("Sign in")
    assert f"How {login} is told" in browser.text()


def choose(browser: Browser, method: str, **fields: str) -> None:
    browser.choose(f"m-{method}")
    browser.fill(fields)
    browser.press("Save")
    assert "Saved." in browser.text(), browser.text()


def test_each_method_chosen_on_the_page_delivers(site: Site, tmp_path: Path) -> None:
    login = site.account()
    with chromium(site.server.url, tmp_path) as browser:
        browser.go("/center/")
        assert "Sign in to the customer center" in browser.text()
        browser.shot("center-sign-in")
        sign_in(browser, login)
        choose(browser, "url", success_url=f"{site.hooks_url}/ok/{login}")
        browser.shot("center-settings", readme=True)
        browser.press("Send a test notification")
        assert site.hooks.next("url", login).content_type.startswith("application/x-www-form")
        browser.wait_for_text("delivered")
        assert "status 200" not in browser.text() and "thanks" in browser.text()
        browser.shot("center-delivery")
        browser.press("Redeliver")
        site.hooks.next("url", login)
        browser.wait_for_text(lambda text: text.count("delivered") == 2)  # two attempts

        browser.go(f"/center/{login}/")
        choose(browser, "email", address=f"{login}@example.com")
        browser.press("Send a test notification")
        mail = site.hooks.next("email", login)
        assert "<notify>" in mail.body or "notify" in mail.body

        browser.go(f"/center/{login}/")
        choose(browser, "poll")
        browser.press("Send a test notification")
        text = browser.wait_for_text("Notification 3")
        assert "<notify>" in text or "notify" in text
        browser.shot("center-queue")
        browser.driver.set_window_size(390, 844)  # a phone: nothing wider than the screen
        for page in ("", "deliveries", "keys"):
            browser.go(f"/center/{login}/{page}")
            width = "return [document.documentElement.scrollWidth, window.innerWidth]"
            scrolled, screen = browser.driver.execute_script(width)
            assert scrolled <= screen, page
        browser.shot("center-phone")


def test_a_failing_endpoint_shows_its_attempts_and_a_rotated_secret_shows_once(
    site: Site, tmp_path: Path
) -> None:
    login = site.account()
    site.server.tidings.set_retry_policy(login, RetryPolicy(schedule=(0.2,), jitter=0.0))
    with chromium(site.server.url, tmp_path) as browser:
        sign_in(browser, login)
        choose(browser, "url", success_url=f"{site.hooks_url}/fail/{login}")
        browser.press("Send a test notification")
        text = browser.wait_for_text("gave up")
        assert "503" in text and "receiver down for maintenance" in text
        assert text.count("failed") >= 2
        browser.shot("center-failing-endpoint")
        browser.go(f"/center/{login}/keys")
        browser.press("Rotate the signing secret")
        secret = browser.driver.find_element(By.ID, "new-secret").text
        assert secret.startswith("whsec_")
        browser.shot("center-keys")
        browser.go(f"/center/{login}/keys")
        assert secret not in browser.text()


def test_the_console_follows_a_trail_and_a_revoked_operator_is_refused(
    site: Site, tmp_path: Path
) -> None:
    login = site.account()
    t = site.server.tidings
    svtrid = t.accept(login, "browser-cl-1", "domain-renew").svtrid
    t.step(svtrid, "registry answered")
    t.end(svtrid, 1000, "Command completed successfully")
    token = t.add_operator(f"browser{next(_logins)}")
    with chromium(site.server.url, tmp_path) as browser:
        browser.go("/console/")
        browser.fill({"token": token})
        browser.press("Sign in")
        browser.go(f"/console/accounts?q={login}")
        browser.shot("console-accounts")
        browser.driver.find_element(By.LINK_TEXT, login).click()
        assert f"Account {login}" in browser.text()
        browser.fill({"reason": "unpaid invoice"})
        browser.press("Suspend")
        assert "Done: suspended" in browser.text()
        browser.press("Resume the account")
        browser.shot("console-account")
        browser.driver.find_element(By.PARTIAL_LINK_TEXT, "domain-renew").click()
        text = browser.text()
        for moment in ("domain-renew accepted", "registry answered", "ended 1000",
                       "notification 1 queued", "suspend", "resume"):  # fmt: skip
            assert moment in text, moment
        browser.shot("console-trail", readme=True)
        browser.go("/console/health")
        browser.press("Verify the hash chain now")
        assert "Chain intact" in browser.text()
        browser.shot("console-health")
        t.revoke_operator(token.partition(".")[0])
        browser.go("/console/accounts")
        assert "Sign in to the operator console" in browser.text()


def test_forged_and_foreign_requests_are_refused(site: Site, tmp_path: Path) -> None:
    login, other = site.account(), site.account()
    with chromium(site.server.url, tmp_path) as browser:
        sign_in(browser, login)
        browser.go(f"/center/{other}/queue")
        assert "Not found." in browser.text()
        browser.shot("center-foreign-404")
        browser.go(f"/center/{login}/")
        browser.driver.execute_script(
            "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())"
        )
        browser.choose("m-email")
        browser.fill({"address": "thief@example.com"})
        browser.press("Save")
        assert "CSRF token is missing" in browser.text()
        account = site.server.tidings.account(login)
        assert account is not None and account.channel.__struct_config__.tag == "poll"


def test_the_pages_work_without_javascript(site: Site, tmp_path: Path) -> None:
    login = site.account()
    with chromium(site.server.url, tmp_path, javascript=False) as browser:
        sign_in(browser, login)
        choose(browser, "url", success_url=f"{site.hooks_url}/ok/{login}")
        browser.press("Send a test notification")
        site.hooks.next("url", login)
        browser.wait_for_text("delivered")
        browser.go(f"/center/{login}/keys")
        browser.fill({"password": "center-pass-2", "again": "center-pass-2"})
        browser.press("Change the password")
        assert "Your password was changed" in browser.text()
        sign_in(browser, login, "center-pass-2")
        browser.go("/docs")
        assert "GET /api/accounts" in browser.text()
        browser.shot("docs")
