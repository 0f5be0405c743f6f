"""Headless Chromium on sub-pipeline runs: the parent's run page lists its child run, the child links back, and
the parent pipeline's page links the pipeline its node starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from pypeline.store import children
from tests.api.support import make_api_stack
from tests.subpipelines.support import add_sub_pipelines
from tests.web.support import ARTIFACTS, open_browser, require_chromium

pytestmark = pytest.mark.e2e


def test_parent_and_child_runs_link_each_other(tmp_path: Path, redis_url: str, postgres_url: str) -> None:
    require_chromium()  # before the worker runs
    from playwright.sync_api import expect

    stack = make_api_stack(tmp_path, redis_url, postgres_url, edit=add_sub_pipelines)
    rt = stack.rt
    with rt.embedded_worker(concurrency=2):
        run_id = rt.start_run("sub_parent", {"x": 4})
        assert rt.wait(run_id, 60)["result"] == {"finish": 9}
    child_id = children.children_of(rt.store.engine, run_id)[0]["id"]
    with open_browser(stack) as browser:
        page, base = browser.page, browser.base
        browser.log_in(stack.read_key)

        page.goto(base + f"/ui/runs/{run_id}")
        row = page.locator(f'#child-runs tr[data-child="{child_id}"]')
        expect(row).to_contain_text("sub_child")
        expect(row).to_contain_text("success")
        expect(page.locator("#run-parent")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "subpipeline-parent.png"), full_page=True)
        row.locator("a").click()
        page.wait_for_url(f"**/ui/runs/{child_id}")
        expect(page.locator("#run-parent")).to_contain_text("sub")
        page.locator("#run-parent a").click()
        page.wait_for_url(f"**/ui/runs/{run_id}")

        # The parent pipeline's page says which pipeline node `sub` starts, and links it.
        page.goto(base + "/ui/pipelines/sub_parent")
        expect(page.locator('svg.dag g[data-node="sub"] text.meta')).to_have_text("pipeline sub_child")
        expect(page.locator("body")).not_to_contain_text("run_subpipeline")
        page.locator("span.subpipeline a").click()
        page.wait_for_url("**/ui/pipelines/sub_child")
        assert browser.errors == []
