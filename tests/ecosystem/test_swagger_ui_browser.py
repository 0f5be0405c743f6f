"""Headless Chromium opens /api/v1/docs with no key and no network beyond this server: Swagger UI renders."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import ApiStack, make_api_stack
from tests.web.support import serve
from tests.web.test_dashboard_browser import CHROMIUM_ARGS, _require_chromium

pytestmark = pytest.mark.e2e


def test_swagger_ui_renders_offline_without_a_key(tmp_path: Path, redis_url: str) -> None:
    executable = _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    stack: ApiStack = make_api_stack(tmp_path, redis_url, f"sqlite:///{tmp_path / 'store.sqlite'}")
    with serve(stack) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            foreign: list[str] = []
            errors: list[str] = []
            page.on("request", lambda req: None if req.url.startswith(base) else foreign.append(req.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/api/v1/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Pypeline API", timeout=20_000)
            operations = page.locator(".opblock-summary-path")
            expect(operations.first).to_be_visible()
            paths = set(operations.all_inner_texts())
            assert any("/api/v1/pipelines/invoke/" in p for p in paths) and len(paths) >= 12
            expect(page.locator("button.authorize")).to_be_visible()  # accesskey / bearer schemes
            assert foreign == [] and errors == []
        finally:
            browser.close()
