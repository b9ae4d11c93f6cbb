import shutil
import tempfile

import pytest

from tests.browser.pages import set_viewport
from tests.services import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# A desk's window unless a test asks for another size, in CSS pixels.
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1280, 900


@pytest.fixture
def browser():
    """A factory of headless Chromium sessions (Debian's chromium and
    chromium-driver packages), each closed after the test. Takes the
    viewport's ``width`` and ``height`` (int, CSS pixels). A script error
    on any of their pages fails the test."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable("Headless Chromium needs Debian's chromium and chromium-driver packages")
    drivers = []

    def open_browser(width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=%d,%d" % (width, height),
            "--user-data-dir=%s" % tempfile.mkdtemp(prefix="chat-chromium-"),
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        set_viewport(driver, width, height)
        drivers.append(driver)
        return driver

    yield open_browser
    script_errors = []
    for driver in drivers:
        try:
            script_errors += [
                entry["message"]
                for entry in driver.get_log("browser")
                if entry.get("source") == "javascript"
            ]
            driver.quit()
        except WebDriverException:
            pass  # a test closed its window already
    assert script_errors == []
