"""S3 fixtures for generator and batch tests: an in-process moto S3 server on 127.0.0.1 and bucket fillers.

A plain module (not a conftest), so tests/generators and tests/services both register the fixtures by import."""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

#: Fake credentials the moto server accepts; real AWS settings must never leak into these tests.
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
_bucket_ids = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto S3 server running in a thread for the whole session."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in FAKE_ENV.items():
            mp.setenv(name, value)
        for name in _UNSET:
            mp.delenv(name, raising=False)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    """A plain boto3 S3 client on the moto server (used to create fixtures, not under test)."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def put_keys(client: Any, bucket: str, keys: dict[str, bytes] | list[str], threads: int = 16) -> None:
    """Create objects through the S3 API with a thread pool (empty bodies when `keys` is a list)."""
    items = keys.items() if isinstance(keys, dict) else ((k, b"") for k in keys)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))


def bulk_put_keys(client: Any, bucket: str, keys: list[str]) -> None:
    """Create many empty objects straight in the in-process moto backend (the HTTP path does ~300 puts/s)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        backend.get_bucket(bucket)
    except Exception:  # moto internals moved: fall back to the public API
        put_keys(client, bucket, keys)
        return
    for key in keys:
        backend.put_object(bucket, key, b"")


@pytest.fixture
def make_bucket(s3_client: Any) -> Callable[..., str]:
    """Factory: a fresh, uniquely named bucket holding the given keys."""

    def make(keys: dict[str, bytes] | list[str] | None = None) -> str:
        name = f"gen-test-{os.getpid()}-{next(_bucket_ids)}"
        s3_client.create_bucket(Bucket=name)
        if keys:
            put_keys(s3_client, name, keys)
        return name

    return make


@pytest.fixture(scope="session")
def bulk_put(s3_client: Any) -> Callable[[str, list[str]], None]:
    """`bulk_put(bucket, keys)`: create many empty objects quickly."""
    return lambda bucket, keys: bulk_put_keys(s3_client, bucket, keys)
