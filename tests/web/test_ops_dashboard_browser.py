"""Headless Chromium on the operations pages: runs filtered by origin/tag, live node logs, batch stop/resume."""
from __future__ import annotations

from pathlib import Path

import pytest

from pypeline.config.model import GeneratorConfig
from pypeline.services import batches as batch_service
from pypeline.services import invoke as invoke_service
from pypeline.status import Status
from pypeline.store.node_logs import append_log
from tests.api.support import ApiStack
from tests.web.support import ARTIFACTS, open_browser, require_chromium

pytestmark = pytest.mark.e2e


def test_filters_live_logs_and_batch_controls(pg_stack: ApiStack, tmp_path: Path) -> None:
    require_chromium()  # before the runs and the batch are created
    from playwright.sync_api import expect

    rt = pg_stack.rt
    tagged = invoke_service.invoke(rt, "demo", {"count": 1}, origin="api", tags=["nightly", "team:data"])
    other = invoke_service.invoke(rt, "demo", {"count": 1}, origin="cli")
    append_log(rt.store.engine, tagged, "fetch", "", 1, "first line from fetch\n")
    data = tmp_path / "keys"
    data.mkdir()
    for i in range(3):
        (data / f"k{i}.txt").write_text("x")
    batch = batch_service.start_adhoc_batch(rt, "line-count", GeneratorConfig("local", {"path": str(data)}),
                                            chunk_size=1, origin="api")  # no worker: it stays RUNNING
    with open_browser(pg_stack) as browser:
        page, base = browser.page, browser.base
        browser.log_in(pg_stack.write_key)

        expect(page.locator("#runs-table tbody tr")).to_have_count(2)
        page.fill("#filter-tag", "nightly")
        page.click("form.filters button[type=submit]")
        expect(page.locator("#runs-table tbody tr")).to_have_count(1)
        expect(page.locator(f'tr[data-run="{tagged}"] .tag')).to_have_text(["nightly", "team:data"])
        page.fill("#filter-tag", "")
        page.fill("#filter-origin", "cli")
        page.click("form.filters button[type=submit]")
        expect(page.locator(f'tr[data-run="{other}"]')).to_have_count(1)
        expect(page.locator("#runs-table tbody tr")).to_have_count(1)
        # The next live refresh (every 2 s) asks for the filtered list and the table keeps one row.
        with page.expect_response(lambda r: "/api/v1/runs/?" in r.url, timeout=10_000) as refresh:
            pass
        assert "origin=cli" in refresh.value.url and refresh.value.json()["total"] == 1
        expect(page.locator("#runs-total")).to_have_text("1")
        expect(page.locator("#runs-table tbody tr")).to_have_count(1)

        page.goto(base + f"/ui/runs/{tagged}")
        logs = page.locator("#run-logs")
        expect(logs).to_contain_text("first line from fetch")
        append_log(rt.store.engine, tagged, "clean", "", 1, "clean is talking now\n")
        expect(logs).to_contain_text("==> clean (attempt 1) <==", timeout=10_000)
        expect(logs).to_contain_text("clean is talking now")
        page.select_option("#logs-node", "fetch")
        expect(logs).not_to_contain_text("clean is talking now")
        expect(logs).to_contain_text("first line from fetch")
        page.screenshot(path=str(ARTIFACTS / "dashboard_logs.png"), full_page=True)

        page.goto(base + "/ui/pipelines/demo")
        page.fill("#payload", '{"count": 1}')
        page.fill("#run-tags", "from-ui, manual")
        page.click("#run-button")
        page.wait_for_url("**/ui/runs/*")
        expect(page.locator("#run-tags .tag")).to_have_text(["from-ui", "manual"])

        page.goto(base + "/ui/batches/")
        row = page.locator(f'tr[data-batch-run="{batch["id"]}"]')
        expect(row.locator(".badge")).to_have_text("running")
        row.locator("a").first.click()
        page.wait_for_url(f"**/ui/batches/{batch['id']}")
        expect(page.locator("#batch-status")).to_have_text("running")
        page.click('#batch-actions button[data-action="stop"]')
        expect(page.locator("#batch-status")).to_have_text("paused")
        expect(page.locator('#batch-actions button[data-action="resume"]')).to_be_enabled()
        page.screenshot(path=str(ARTIFACTS / "dashboard_batch.png"), full_page=True)
        page.click('#batch-actions button[data-action="resume"]')
        expect(page.locator("#batch-status")).to_have_text("running")
        assert browser.errors == []
    assert batch_service.batch_status(rt, batch["id"])["status"] == Status.RUNNING.value
