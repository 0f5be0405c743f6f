"""Headless Chromium edits a config on the dashboard's config page: a DAG appears, then a line-marked error."""
from __future__ import annotations

import pytest

from tests.api.support import ApiStack
from tests.web.support import ARTIFACTS, open_browser

pytestmark = pytest.mark.e2e
H = "pypeline_examples.handlers_for_tests"
EDITED = f"""# edited in the browser
pipelines:
  etl:
    name: ETL
    config:
      dagAdjacency:
        extract: [clean, enrich]
        clean: [store]
        enrich: [store]
      taskDefinitions:
        extract: {{handler: {H}.fetch}}
        clean: {{handler: {H}.transform}}
        enrich: {{handler: {H}.transform}}
        store: {{handler: {H}.load}}
"""


def test_edit_the_config_see_the_dag_then_a_line_marked_error(module_stack: ApiStack) -> None:
    from playwright.sync_api import expect

    before = module_stack.config.read_text()
    with open_browser(module_stack, viewport={"width": 1400, "height": 1100}) as browser:
        page = browser.page
        browser.log_in(module_stack.write_key, at="/ui/config", landing="**/ui/config")
        # the loaded example is checked right away
        expect(page.locator("#config-status")).to_contain_text("valid", timeout=15_000)

        page.fill("#config-text", EDITED)
        graph = page.locator('#config-dags svg.dag[data-pipeline="etl"]')
        expect(graph.locator("g.node")).to_have_count(4, timeout=15_000)
        expect(graph.locator("path.edge")).to_have_count(4)
        expect(graph.locator('g.node[data-node="clean"] text.meta')).to_have_text("transform")
        expect(page.locator("#config-status")).to_have_text("valid: 1 pipeline(s)")
        expect(page.locator("#config-lines li.has-error")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "dashboard_config_preview.png"), full_page=True)

        broken = EDITED.replace("    name: ETL", "    nmae: ETL").replace("clean: [store]", "clean: [stor]")
        page.fill("#config-text", broken)
        expect(page.locator("#config-status")).to_have_text("2 error(s)", timeout=15_000)
        expect(page.locator('#config-lines li[data-line="4"]')).to_have_class("has-error")
        expect(page.locator('#config-lines li[data-line="8"]')).to_have_class("has-error")
        expect(page.locator('#config-errors li[data-line="4"]')).to_contain_text("PYP101 unknown-key")
        expect(page.locator('#config-errors li[data-line="4"]')).to_contain_text("did you mean 'name'?")
        expect(page.locator('#config-errors li[data-line="8"]')).to_contain_text("PYP202 unknown-node")
        expect(page.locator("#config-dags svg.dag")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "dashboard_config_errors.png"), full_page=True)
        assert browser.errors == []
    assert module_stack.config.read_text() == before  # the preview never saves
