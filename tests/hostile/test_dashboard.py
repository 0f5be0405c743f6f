"""Dashboard hardening: CSRF on every state-changing form (logout too), anti-framing and no-sniff headers, cookies."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pypeline.api import FlaskPypeline
from tests.api.support import ApiStack, make_api_stack

pytestmark = pytest.mark.hostile

HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ApiStack]:
    tmp = tmp_path_factory.mktemp("dash")
    yield make_api_stack(tmp, redis_url, f"sqlite:///{tmp / 'store.sqlite'}")


def _form_csrf(client: FlaskClient) -> str:
    form = client.get("/ui/login").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]


def _login(stack: ApiStack) -> tuple[FlaskClient, str, str]:
    client = stack.app.test_client()
    resp = client.post("/ui/login", data={"key": stack.write_key, "csrf": _form_csrf(client)})
    assert resp.status_code == 302
    page = client.get("/ui/").get_data(as_text=True)
    token = re.search(r'name="pypeline-csrf" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return client, token, resp.headers.get("Set-Cookie", "")


def test_every_dashboard_answer_carries_the_security_headers(dash: ApiStack) -> None:
    client, _, _ = _login(dash)
    anonymous = dash.app.test_client()
    answers = [anonymous.get("/ui/login"), anonymous.get("/ui/"), anonymous.get("/ui/static/dashboard.js"),
               client.get("/ui/"), client.get("/ui/pipelines/demo"), client.get("/ui/runs/nope"),
               client.get("/ui/pipelines/"), client.get("/ui/schedules/")]
    for resp in answers:
        for name, value in HEADERS.items():
            assert resp.headers.get(name) == value, (resp.request.path, name, resp.headers.get(name))


def test_session_cookie_is_httponly_and_samesite(dash: ApiStack) -> None:
    _, _, cookie = _login(dash)
    assert cookie.startswith("pypeline_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_needs_the_sessions_csrf_token(dash: ApiStack) -> None:
    client, token, _ = _login(dash)
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": token + "x"}):
        refused = client.post("/ui/logout", data=data)
        assert refused.status_code == 403, data
        assert client.get("/ui/").status_code == 200  # still logged in
    form = client.get("/ui/").get_data(as_text=True)
    assert re.search(r'action="/ui/logout"><input type="hidden" name="csrf" value="' + re.escape(token), form)
    assert client.post("/ui/logout", data={"csrf": token}).status_code == 302
    assert client.get("/ui/").status_code == 302  # back to the login page


def test_session_writes_need_the_csrf_header(dash: ApiStack) -> None:
    client, token, _ = _login(dash)
    before = dash.rt.store.list_runs()[1]
    forged = client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}})
    assert forged.status_code == 401 and forged.json["code"] == "unauthorized"
    assert dash.rt.store.list_runs()[1] == before
    ok = client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}},
                     headers={"X-Pypeline-CSRF": token})
    assert ok.status_code == 202


def test_a_host_app_gets_a_samesite_session_cookie(dash: ApiStack) -> None:
    host = Flask("host")
    host.config["SECRET_KEY"] = "host-secret"
    FlaskPypeline(host, runtime=dash.rt)
    assert host.config["SESSION_COOKIE_SAMESITE"] == "Lax" and host.config["SESSION_COOKIE_HTTPONLY"] is True
    chosen = Flask("strict-host")
    chosen.config.update(SECRET_KEY="x", SESSION_COOKIE_SAMESITE="Strict")
    FlaskPypeline(chosen, runtime=dash.rt)
    assert chosen.config["SESSION_COOKIE_SAMESITE"] == "Strict"  # the host's own choice stays


@pytest.mark.parametrize(("url", "status"), [
    ("/ui/runs/%00", 404), ("/ui/runs/" + "x" * 300, 404), ("/ui/pipelines/%00", 404), ("/ui/?pipeline=%00", 400),
    ("/ui/?status=%00", 400), ("/ui/?offset=%00", 400), ("/ui/?offset=99999999999999999999999", 400),
    ("/ui/?offset=-5", 400), ("/ui/login?next=%00", 400),
])
def test_hostile_dashboard_urls_are_clean_error_pages(pg_module_stack: ApiStack, url: str, status: int) -> None:
    """On PostgreSQL a NUL or an out-of-range offset used to reach the database and end in a 500."""
    client, _, _ = _login(pg_module_stack)
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.headers["X-Frame-Options"] == "DENY" and b"<html" in resp.data.lower()
