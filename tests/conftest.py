"""Shared test setup. Area-specific fixtures live next to their tests (tests/<area>/...)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = sorted((REPO / "seeds").glob("*.txt"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    assert len(SEEDS) == 5, "the five seed articles must be in seeds/"
    return SEEDS


CHROMIUM = os.environ.get("HUASHU_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HUASHU_CHROMEDRIVER", "/usr/bin/chromedriver")


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium_driver() -> Iterator[Any]:
    """Headless Debian Chromium through chromedriver, with the flags that keep it off the network
    and a fresh profile that is removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="huashu-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def open_chromium():  # type: ignore[no-untyped-def]
    """``with open_chromium() as driver:`` a headless Chromium (skips when it is not installed)."""
    if not have_chromium():
        pytest.skip("headless Chromium not installed (make browser)")
    return chromium_driver
