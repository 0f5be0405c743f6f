"""A real `pypeline api` (gunicorn) process: its own protocol errors come back in the API's JSON error shape."""
from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from tests.hostile.support import ApiServer

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read the whole answer (the server closes after an error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(("name", "request_bytes", "status", "code"), [
    pytest.param(*case, id=case[0]) for case in [
    ("uri_too_long", b"GET /api/v1/runs/?pipeline_id=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "uri_too_long"),
    ("too_many_headers", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431, "headers_too_large"),
    ("header_too_large", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431,
     "headers_too_large"),
    ("bad_request_line", b"THIS IS NOT HTTP\r\n\r\n", 400, "bad_request"),
    ("bad_http_version", b"GET / HTTP/9.x\r\nHost: x\r\n\r\n", 400, "bad_request"),
    ("bad_header_name", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400, "bad_request"),
]])
def test_server_errors_are_json(api_server: ApiServer, name: str, request_bytes: bytes, status: int,
                                code: str) -> None:
    port = api_server.port
    start = time.perf_counter()
    got, headers, body = _raw(port, request_bytes)
    assert time.perf_counter() - start < 2.0
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    document = json.loads(body)
    assert document["code"] == code and isinstance(document["message"], str) and document["message"]
    assert int(headers["content-length"]) == len(body)


def test_hostile_requests_through_the_real_server(api_server: ApiServer) -> None:
    port, key = api_server.port, api_server.key
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for method, path, body, status in [
        ("POST", "/api/v1/pipelines/demo/invoke", '{"chain_payload": NaN}', 400),
        ("POST", "/api/v1/pipelines/demo/invoke", '{"chain_payload": ' + "[" * 10_000 + "]" * 10_000 + "}", 400),
        ("GET", "/api/v1/runs/%00", None, 404),
        ("GET", "/api/v1/runs/?pipeline_id=%00", None, 422),
    ]:
        conn.request(method, path, body=body, headers={"accesskey": key, "Content-Type": "application/json"})
        resp = conn.getresponse()
        document = json.loads(resp.read())
        assert resp.status == status and set(document) >= {"code", "message"}, (path, document)
    conn.close()
