"""Auth: every endpoint but health/readiness needs a key; read vs write scopes; custom callbacks."""
from __future__ import annotations

import re

import pytest
from flask import Request
from sqlalchemy import select

from pypeline.api import Principal, create_app
from pypeline.services import keys as key_service
from pypeline.store.models import ApiKey
from tests.api.support import ApiStack


def _operations(stack: ApiStack) -> list[tuple[str, str]]:
    spec = stack.client.get("/api/v1/openapi.json", headers=stack.r).json
    ops = []
    for path, item in spec["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                ops.append((method, re.sub(r"\{[^}]+\}", "x", path)))
    return ops


def test_every_endpoint_but_health_needs_a_key(module_stack: ApiStack) -> None:
    s = module_stack
    ops = _operations(s)
    assert len(ops) >= 12
    for method, path in ops:
        resp = s.client.open(path, method=method.upper(), json={} if method != "get" else None)
        if path in ("/api/v1/health", "/api/v1/ready"):
            assert resp.status_code == 200, (method, path, resp.json)
            continue
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp.json["code"] == "unauthorized" and resp.json["message"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):  # public by default (PYPELINE_DOCS_REQUIRE_KEY)
        assert s.client.get(path).status_code == 200


def test_read_scope_reads_but_cannot_write(module_stack: ApiStack) -> None:
    s = module_stack
    assert s.client.get("/api/v1/pipelines/", headers=s.r).status_code == 200
    assert s.client.get("/api/v1/pipelines/", headers={"accesskey": s.read_key}).status_code == 200
    before = s.rt.store.list_runs()[1]
    resp = s.client.post("/api/v1/pipelines/invoke/demo", json={"chain_payload": {}}, headers=s.r)
    assert resp.status_code == 403 and resp.json["code"] == "forbidden"
    assert s.rt.store.list_runs()[1] == before
    resp = s.client.post("/api/v1/pipelines/invoke/demo", json={"chain_payload": {"count": 1}}, headers=s.w)
    assert resp.status_code == 202


@pytest.mark.parametrize("headers", [
    {"accesskey": "not-a-key"},
    {"accesskey": "pyp_0000_secret"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer "},
])
def test_bad_credentials_are_401(module_stack: ApiStack, headers: dict[str, str]) -> None:
    resp = module_stack.client.get("/api/v1/pipelines/", headers=headers)
    assert resp.status_code == 401 and resp.json["code"] == "unauthorized"


def test_wrong_secret_for_a_real_key_id_is_401(module_stack: ApiStack) -> None:
    _, key_id, _ = module_stack.write_key.split("_", 2)
    resp = module_stack.client.get("/api/v1/runs/", headers={"accesskey": f"pyp_{key_id}_wrongsecret"})
    assert resp.status_code == 401


def test_revoked_key_stops_working_at_once(module_stack: ApiStack) -> None:
    s = module_stack
    created = key_service.create_key(s.rt, "temp", "write")
    headers = {"accesskey": created.token}
    assert s.client.get("/api/v1/runs/", headers=headers).status_code == 200
    assert key_service.get_key(s.rt, created.info.id).last_used_at is not None
    key_service.revoke_key(s.rt, created.info.id)
    resp = s.client.get("/api/v1/runs/", headers=headers)
    assert resp.status_code == 401 and "revoked" in resp.json["message"]


def test_keys_are_hashed_at_rest(module_stack: ApiStack) -> None:
    s = module_stack
    secret = s.write_key.split("_", 2)[2]
    with s.rt.store.engine.connect() as conn:
        rows = conn.execute(select(ApiKey.__table__)).mappings().all()
    dump = repr([dict(r) for r in rows])
    assert rows and secret not in dump and s.write_key not in dump
    assert any(r["secret_hash"] == key_service.hash_secret(secret) for r in rows)


def test_custom_auth_callback_replaces_keys(module_stack: ApiStack) -> None:
    def auth(request: Request, scope: str) -> Principal | bool | None:
        user = request.headers.get("X-User")
        if user == "alice":
            return Principal("alice", "write", via="callback")
        if user == "bob":
            if scope == "write":
                raise key_service.ScopeError("bob may only read")
            return True
        return None

    app = create_app(runtime=module_stack.rt, auth=auth)
    client = app.test_client()
    assert client.get("/api/v1/pipelines/").status_code == 401
    # API keys are not consulted any more: the callback decides.
    assert client.get("/api/v1/pipelines/", headers=module_stack.w).status_code == 401
    assert client.get("/api/v1/pipelines/", headers={"X-User": "bob"}).status_code == 200
    denied = client.post("/api/v1/pipelines/demo/invoke", json={}, headers={"X-User": "bob"})
    assert denied.status_code == 403 and denied.json["code"] == "forbidden"
    ok = client.post("/api/v1/pipelines/demo/invoke", json={"chain_payload": {"count": 1}}, headers={"X-User": "alice"})
    assert ok.status_code == 202
    assert client.get("/api/v1/health").status_code == 200
    page = client.get("/ui/", headers={"X-User": "alice"})
    assert page.status_code == 200 and b"alice" in page.data
    assert client.get("/ui/").status_code == 401  # no login page with a custom callback



def test_key_auth_without_key_or_session_is_401_not_a_principal() -> None:
    """No key and no dashboard session: AuthError (401), never a key's info standing in for a Principal."""
    from flask import Flask, request

    from pypeline.errors import AuthError
    from pypeline.http.auth import KeyAuth

    app = Flask(__name__)
    app.secret_key = "test"
    auth = KeyAuth(lambda: None)  # the runtime is never used: a missing token is refused first
    with app.test_request_context("/api/v1/pipelines/"), pytest.raises(AuthError, match="missing API key"):
        auth(request, "read")
