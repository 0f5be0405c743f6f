"""Dashboard pages through the Flask test client: login session, CSRF on writes, every page renders."""
from __future__ import annotations

import re

from flask.testing import FlaskClient

from pypeline.services import keys as key_service
from tests.api.support import ApiStack


def _form_csrf(client: FlaskClient) -> str:
    form = client.get("/ui/login").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', form).group(1)


def _login(stack: ApiStack, key: str) -> tuple[FlaskClient, str]:
    client = stack.app.test_client()
    resp = client.post("/ui/login", data={"key": key, "next": "/ui/pipelines/", "csrf": _form_csrf(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/ui/pipelines/"
    page = client.get("/ui/pipelines/").get_data(as_text=True)
    csrf = re.search(r'name="pypeline-csrf" content="([^"]+)"', page).group(1)
    return client, csrf


def test_login_required_and_bad_key_rejected(module_stack: ApiStack) -> None:
    client = module_stack.app.test_client()
    resp = client.get("/ui/runs/abc")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/ui/login?next=/ui/runs/abc")
    bad = client.post("/ui/login", data={"key": "nope", "csrf": _form_csrf(client)})
    assert bad.status_code == 401 and b"invalid API key" in bad.data
    # A login posted from elsewhere (no form token) is refused even with a good key.
    forged = module_stack.app.test_client().post("/ui/login", data={"key": module_stack.read_key})
    assert forged.status_code == 401 and b"expired" in forged.data
    # `next` never leaves the dashboard.
    off_site = client.post("/ui/login", data={"key": module_stack.read_key, "next": "https://evil.example/",
                                              "csrf": _form_csrf(client)})
    assert off_site.headers["Location"] == "/ui/"


def test_session_writes_need_the_csrf_header(module_stack: ApiStack) -> None:
    s = module_stack
    client, csrf = _login(s, s.write_key)
    body = {"chain_payload": {"count": 2}}
    denied = client.post("/api/v1/pipelines/demo/invoke", json=body)
    assert denied.status_code == 401 and "X-Pypeline-CSRF" in denied.json["message"]
    wrong = client.post("/api/v1/pipelines/demo/invoke", json=body, headers={"X-Pypeline-CSRF": "guess"})
    assert wrong.status_code == 401
    ok = client.post("/api/v1/pipelines/demo/invoke", json=body, headers={"X-Pypeline-CSRF": csrf})
    assert ok.status_code == 202
    assert client.get("/api/v1/runs/").status_code == 200  # reads need no CSRF header


def test_read_only_session_cannot_run(module_stack: ApiStack) -> None:
    s = module_stack
    client, csrf = _login(s, s.read_key)
    page = client.get("/ui/pipelines/demo").get_data(as_text=True)
    assert re.search(r'<button id="run-button"[^>]*disabled', page)
    resp = client.post("/api/v1/pipelines/demo/invoke", json={}, headers={"X-Pypeline-CSRF": csrf})
    assert resp.status_code == 403


def test_revoking_the_key_ends_the_session(module_stack: ApiStack) -> None:
    s = module_stack
    temp = key_service.create_key(s.rt, "temp", "read")
    client, _ = _login(s, temp.token)
    assert client.get("/ui/").status_code == 200
    key_service.revoke_key(s.rt, temp.info.id)
    assert client.get("/ui/").status_code == 302
    assert client.get("/api/v1/runs/").status_code == 401


def test_pages_render(module_stack: ApiStack) -> None:
    s = module_stack
    client, csrf = _login(s, s.write_key)
    run_id = client.post("/api/v1/pipelines/failing/invoke", json={}, headers={"X-Pypeline-CSRF": csrf}).json["run_id"]

    runs = client.get("/ui/?pipeline=failing").get_data(as_text=True)
    assert f'data-run="{run_id}"' in runs and "st-RUNNING" in runs

    run = client.get(f"/ui/runs/{run_id}").get_data(as_text=True)
    assert run.count('<g class="node') == 4
    assert 'data-node="start"' in run and 'class="node st-QUEUED" data-node="start"' in run
    assert 'class="node st-PENDING" data-node="never"' in run
    assert run.count('<path class="edge"') == 3
    assert re.search(r'<button data-action="pause"\s*>', run)  # allowed while RUNNING
    assert re.search(r'<button data-action="retry"\s*disabled', run)

    pipelines = client.get("/ui/pipelines/").get_data(as_text=True)
    for pid in ("demo", "diamond", "retrying", "failing"):
        assert f'href="/ui/pipelines/{pid}"' in pipelines
    pipeline = client.get("/ui/pipelines/demo").get_data(as_text=True)
    assert "payloadSchema" in pipeline and "pypeline_examples.demo.fetch" in pipeline

    assert client.get("/ui/schedules/").status_code == 200
    assert client.get("/ui/static/dashboard.js").status_code == 200
    missing = client.get("/ui/runs/does-not-exist")
    assert missing.status_code == 404 and b"unknown run" in missing.data
    assert client.get("/ui/pipelines/nope").status_code == 404
    assert client.get("/ui/?status=bogus").status_code == 400

    assert client.post("/ui/logout").status_code == 403  # no CSRF token: a cross-site logout is refused
    assert client.get("/ui/").status_code == 200
    logout = client.post("/ui/logout", data={"csrf": csrf})
    assert logout.status_code == 302 and client.get("/ui/").status_code == 302
