"""Headless Chromium drives the dashboard: log in, start a run from the pipeline page, watch its nodes turn green."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pypeline.services import schedules as schedule_service
from tests.api.support import ApiStack
from tests.helpers import WorkerProcess
from tests.web.support import ARTIFACTS, open_browser, require_chromium

pytestmark = pytest.mark.e2e


def test_start_a_run_from_the_dashboard_and_see_it_succeed(pg_stack: ApiStack,
                                                           start_worker: Callable[..., WorkerProcess]) -> None:
    require_chromium()  # before the worker starts
    from playwright.sync_api import expect

    pg_stack.start_worker(start_worker, "-c", "4", "-P", "threads")
    with open_browser(pg_stack) as browser:
        page, base = browser.page, browser.base
        page.goto(base + "/ui/pipelines/demo")
        assert "/ui/login" in page.url  # not logged in yet
        page.fill("#key", "wrong")
        page.click("button[type=submit]")
        expect(page.locator(".error-text")).to_contain_text("invalid API key")
        page.fill("#key", pg_stack.write_key)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/pipelines/demo")
        expect(page.locator("svg.dag g.node")).to_have_count(4)

        page.fill("#payload", '{"count": 4}')
        page.click("#run-button")
        page.wait_for_url("**/ui/runs/*")
        run_id = page.url.rsplit("/", 1)[-1]
        nodes = page.locator("svg.dag g.node")
        expect(nodes).to_have_count(4)
        for name in ("fetch", "clean", "enrich", "load"):
            expect(page.locator(f'svg.dag g.node[data-node="{name}"]')).to_have_class(
                "node st-SUCCESS", timeout=30_000)
        expect(page.locator("#run-status")).to_have_text("success")
        expect(page.locator("#run-result")).to_contain_text('"kept": 2')
        expect(page.locator("#nodes-table tbody tr")).to_have_count(4)
        fill = page.eval_on_selector('svg.dag g.node[data-node="load"] rect',
                                     "r => getComputedStyle(r).fill")
        assert fill == "rgb(198, 247, 208)"  # the green of a successful node
        page.screenshot(path=str(ARTIFACTS / "dashboard_run.png"), full_page=True)

        page.goto(base + "/ui/")
        expect(page.locator(f'tr[data-run="{run_id}"] .badge')).to_have_text("success")
        page.screenshot(path=str(ARTIFACTS / "dashboard_runs.png"), full_page=True)

        schedule_service.sync_config_schedules(pg_stack.rt)
        page.goto(base + "/ui/schedules/")
        toggle = page.locator('button[data-schedule="nightly-report"]')
        expect(toggle).to_have_text("enabled")
        toggle.click()
        expect(toggle).to_have_text("disabled")
        page.screenshot(path=str(ARTIFACTS / "dashboard_schedules.png"), full_page=True)
        assert browser.errors == []
    record = pg_stack.rt.store.get_run(run_id)
    assert record["status"] == "SUCCESS" and record["origin"] == "api"
    assert (ARTIFACTS / "dashboard_run.png").stat().st_size > 10_000
    assert schedule_service.get_schedule(pg_stack.rt, "nightly-report")["enabled"] is False
