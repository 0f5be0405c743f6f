"""Headless Chromium opens /api/v1/docs with no key and no network beyond this server: Swagger UI renders."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import ApiStack, make_api_stack
from tests.web.support import open_browser

pytestmark = pytest.mark.e2e


def test_swagger_ui_renders_offline_without_a_key(tmp_path: Path, redis_url: str) -> None:
    from playwright.sync_api import expect

    stack: ApiStack = make_api_stack(tmp_path, redis_url, f"sqlite:///{tmp_path / 'store.sqlite'}")
    with open_browser(stack, viewport=None) as browser:
        page, base = browser.page, browser.base
        foreign: list[str] = []
        page.on("request", lambda req: None if req.url.startswith(base) else foreign.append(req.url))
        page.goto(base + "/api/v1/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Pypeline API", timeout=20_000)
        operations = page.locator(".opblock-summary-path")
        expect(operations.first).to_be_visible()
        paths = set(operations.all_inner_texts())
        assert any("/api/v1/pipelines/invoke/" in p for p in paths) and len(paths) >= 12
        expect(page.locator("button.authorize")).to_be_visible()  # accesskey / bearer schemes
        assert foreign == [] and browser.errors == []
