"""A real browser for the page tests: Debian's chromium, driven by Playwright for Python
(``make browser-tools`` installs it). With ``BLOCKC_UI_SCREENSHOTS=DIR`` each test's named
views are also saved there as PNGs (docs/ui.md shows them: ``make screenshots``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def launch(playwright):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make browser-tools` installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM)


def shot(page, name: str) -> None:
    """Save the page as DIR/NAME.png when screenshots are asked for."""
    where = os.environ.get("BLOCKC_UI_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"))


def sign_in(page, base: str, user: str, password: str, next_path: str = "/") -> None:
    page.goto(f"{base}{next_path}")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{next_path}")
