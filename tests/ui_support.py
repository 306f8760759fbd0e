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


# WCAG 2 contrast of every element with text of its own against the background it sits on
# (the nearest ancestor with one); disabled controls are exempt, as WCAG exempts them
CONTRAST_JS = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest(":disabled, [aria-disabled=true], [hidden]") || !el.offsetParent) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return low;
}"""


def low_contrast(page) -> list[str]:
    """The page's text below WCAG AA contrast (4.5:1; 3:1 when large)."""
    return page.evaluate(CONTRAST_JS)
