"""A real headless browser for the console tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot work here (and is never run): the tests point it at
the system's chromium, which `make setup` installs from Debian's packages, with a fresh
profile directory per module.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Set to a folder (e.g. docs/console) to keep the screenshots the tests take of each page.
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


@dataclass
class Watched:
    """What a page did that a test must see: JavaScript errors and dialogs (alert())."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing. Fix: run `make setup` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
            timezone_id="UTC",
            locale="en-GB",
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Watched]]:
    """A fresh tab; every JavaScript error and dialog it raises is recorded, and a dialog is
    dismissed (an alert() would otherwise block the page)."""
    tab = browser.new_page()
    watched = Watched()
    tab.on("pageerror", lambda error: watched.errors.append(str(error)))
    tab.on("dialog", lambda dialog: (watched.dialogs.append(dialog.message), dialog.dismiss()))
    try:
        yield tab, watched
    finally:
        tab.close()
    assert watched.errors == [], watched.errors


def screenshot(tab: Any, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot of the page for docs/console.md when CONSOLE_SCREENSHOTS is set."""
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
