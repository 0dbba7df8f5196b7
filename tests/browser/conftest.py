"""Headless Chromium from Debian (/usr/bin/chromium, /usr/bin/chromedriver) driven by Selenium.

Selenium Manager is kept offline: the driver path is given, so nothing is downloaded.
scripts/test.sh installs the two Debian packages when they are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.api.conftest import module_dsn, server, worker  # noqa: F401 - the fixtures, shared

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        assert not os.environ.get("CI"), "chromium is missing in CI: scripts/test.sh installs it"
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them)")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--lang=en-US", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # The viewport itself 1280x900, whatever the window decorations take.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()
