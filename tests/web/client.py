"""A client of the web pages for request tests: httpx against a real server, keeping the
session cookies itself (they are Secure, and the test server speaks plain HTTP on
127.0.0.1, so httpx's own jar would not send them back), and reading each form's CSRF
token from the page that shows it."""

import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import httpx

__all__ = ["WebClient", "csrf_of"]

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


@dataclass
class WebClient:
    """One browser: its cookies, its last page."""

    http: httpx.Client
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    def _headers(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def get(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(path, headers=self._headers()))

    def post(self, path: str, data: dict[str, Any], *, csrf: str | None = None) -> httpx.Response:
        body = dict(data)
        if csrf is not None:
            body["csrf"] = csrf
        return self._keep(self.http.post(path, data=body, headers=self._headers()))

    def submit(self, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
        """GET `page`, then post `data` to `action` with the page's CSRF token."""
        shown = self.get(page)
        assert shown.status_code == 200, shown.text
        return self.post(action, data, csrf=csrf_of(shown.text))

    def sign_in_center(self, login: str, password: str) -> httpx.Response:
        return self.submit("/center/sign-in", "/center/sign-in",
                           {"login": login, "password": password})  # fmt: skip

    def sign_in_console(self, token: str) -> httpx.Response:
        return self.submit("/console/sign-in", "/console/sign-in", {"token": token})
