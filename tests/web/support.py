"""Dashboard test support: serve an ApiStack's app over real HTTP in a thread and drive it with headless Chromium."""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

from tests.api.support import ApiStack
from tests.helpers import ROOT, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

__all__ = ["ARTIFACTS", "CHROMIUM", "CHROMIUM_ARGS", "BrowserPage", "open_browser", "require_chromium", "serve"]

CHROMIUM = os.environ.get("PYPELINE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEFAULT_VIEWPORT: ViewportSize = {"width": 1280, "height": 1000}


def require_chromium() -> str:
    """The Chromium executable; skips the test without one (fails it in CI)."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


@contextmanager
def serve(stack: ApiStack) -> Iterator[str]:
    """Serve the stack's app with werkzeug's threaded server on 127.0.0.1:<free port>; yields the base URL."""
    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@dataclass
class BrowserPage:
    """A headless Chromium page on a served stack, with the page errors (uncaught JS exceptions) it raised."""

    base: str
    page: Page
    errors: list[str]

    def log_in(self, key: str, at: str = "/ui/login", landing: str = "**/ui/") -> None:
        """Open `at` (which shows the login form), submit `key` and wait for the page at `landing`."""
        self.page.goto(self.base + at)
        self.page.fill("#key", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(landing)


@contextmanager
def open_browser(stack: ApiStack, viewport: ViewportSize | None = DEFAULT_VIEWPORT) -> Iterator[BrowserPage]:
    """Serve the stack and open one page in headless Chromium (None: Chromium's default viewport)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(stack) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield BrowserPage(base, page, errors)
        finally:
            browser.close()
