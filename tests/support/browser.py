"""A headless Chromium page for browser tests: Debian's chromium driven by Playwright.

Tests skip with the reason when chromium is not installed, except under CI=true, where
.ci/run installs it and its absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Locator, Page, async_playwright

from tests.support.databases import in_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium) — browser test not run"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class BrowserPage:
    page: Page
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str, of: Locator | None = None) -> Path:
        """Keep a screenshot under test-artifacts/ (gitignored): the full page, or one
        element of it (``of``)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        if of is None:
            await self.page.screenshot(path=str(path), full_page=True)
        else:
            await of.screenshot(path=str(path))
        return path


def _current_test() -> str:
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test.rsplit("::", 1)[-1])


@asynccontextmanager
async def browser_page(
    *, width: int = 1280, height: int = 800, dark: bool = False, locale: str = "en-GB"
) -> AsyncIterator[BrowserPage]:
    """A fresh page; console errors and uncaught exceptions are collected in ``errors``."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme="dark" if dark else "light",
                locale=locale,
            )
            page = await context.new_page()
            page.set_default_timeout(15_000)
            result = BrowserPage(page)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    where = message.location.get("url", "")
                    result.errors.append(f"console: {message.text} ({where})")

            page.on("console", on_console)
            page.on("pageerror", lambda error: result.errors.append(f"page error: {error}"))
            try:
                yield result
            except BaseException:
                # What the page showed when the test failed, for whoever reads the report.
                with contextlib.suppress(Exception):
                    shot = await result.screenshot("failed-" + _current_test())
                    print(f"the page when the test failed: {shot}")
                raise
        finally:
            await browser.close()
