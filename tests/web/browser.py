"""Headless Chromium driven by Selenium, for the browser tests of the web pages.

`chromium()` starts a fresh browser (its own profile folder) with or without
JavaScript; without /usr/bin/chromium and /usr/bin/chromedriver the tests are skipped,
unless TIDINGS_REQUIRE_POSTGRES=1 (CI), where they fail. Every wait has a deadline.
Screenshots go under the test's temporary folder; with TIDINGS_SCREENSHOTS=DIR the
README's two are also written to DIR.
"""

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

__all__ = ["CHROMEDRIVER", "Browser", "chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# How long any one page may take, and any one wait.
PAGE_SECONDS = 20
WAIT_SECONDS = 20
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--no-first-run", "--window-size=1100,900")  # fmt: skip


def _available() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    missing = f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt: chromium chromium-driver)"
    if os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"browser tests required: {missing}")
    pytest.skip(missing)


class Browser:
    """A driven browser at one server: `go`, `fill`, `click`, `text`, `shot`."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver = driver
        self.base = base
        self.shots = shots

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)

    def fill(self, fields: dict[str, str]) -> None:
        for name, value in fields.items():
            box = self.driver.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)

    def choose(self, element_id: str) -> None:
        box = self.driver.find_element(By.ID, element_id)
        if not box.is_selected():
            box.click()

    def press(self, label: str) -> None:
        """Click the button that says `label`, and wait for the next page."""
        button = self.driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
        button.click()

        def replaced(_: object) -> bool:
            try:
                button.is_enabled()
            except WebDriverException:  # stale, or "does not belong to the document"
                return True
            return False

        WebDriverWait(self.driver, WAIT_SECONDS).until(replaced)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_for_text(self, wanted: str | Callable[[str], bool]) -> str:
        """The page's text once it holds `wanted` (or `wanted(text)` holds), reloading
        the page until then."""

        def holds(_: object) -> bool:
            try:
                text = self.text()
            except WebDriverException:  # read while the page was being replaced
                return False
            if wanted(text) if callable(wanted) else wanted in text:
                return True
            self.driver.refresh()
            return False

        WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.25).until(holds)
        return self.text()

    def shot(self, name: str, readme: bool = False) -> Path:
        """A screenshot of the whole page (up to 2,400 px high) as `<name>.png` under
        the test's folder; with `readme`, also into TIDINGS_SCREENSHOTS."""
        path = self.shots / f"{name}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        if size["width"] < 1 or size["height"] < 1:  # not laid out yet: the window as it is
            self.driver.save_screenshot(str(path))
        else:
            clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400),
                    "scale": 1}  # fmt: skip
            taken = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
            )
            path.write_bytes(base64.b64decode(taken["data"]))
        target = os.environ.get("TIDINGS_SCREENSHOTS")
        if readme and target:
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / f"{name}.png")
        return path


@contextmanager
def chromium(base: str, folder: Path, *, javascript: bool = True) -> Iterator[Browser]:
    """A fresh headless Chromium at `base`, its profile and screenshots in `folder`."""
    _available()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    profile = folder / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    driver.set_script_timeout(PAGE_SECONDS)
    try:
        yield Browser(driver, base, folder)
    finally:
        driver.quit()
