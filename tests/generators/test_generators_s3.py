"""S3KeyGenerator against a moto server: pagination, order, prefixes, resume, filters and error mapping."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.stub import Stubber

from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.generators import AccessDeniedError, S3KeyGenerator, SourceError, translate_s3_error

UTC = timezone.utc

pytestmark = pytest.mark.timeout(60)

N_BULK = 2_600
SPECIAL = ["naïve/é.txt", "日本/データ.csv", "space and+plus%25.txt", "z/\U0001f600.bin", "tab\there"]
HIDDEN = ["p0/.DS_Store", ".git/HEAD", "p1/d03/Icon", ".Dropbox/x"]


def bulk_keys() -> list[str]:
    """2,600 keys spread over nested prefixes, in no particular order."""
    return [f"p{i % 3}/d{i % 7:02d}/k{i:05d}.txt" for i in range(N_BULK)]


@pytest.fixture(scope="module")
def big_bucket(s3_client: Any, bulk_put: Callable[[str, list[str]], None]) -> tuple[str, list[str]]:
    """A bucket with 2,600 nested keys plus non-ASCII, hidden and folder-marker objects; returns visible keys."""
    name = "gen-test-big"
    s3_client.create_bucket(Bucket=name)
    bulk_put(name, bulk_keys() + HIDDEN)
    for key in SPECIAL:
        s3_client.put_object(Bucket=name, Key=key, Body=b"abc")
    s3_client.put_object(Bucket=name, Key="p2/", Body=b"")  # console "folder" marker
    visible = sorted(bulk_keys() + SPECIAL, key=lambda k: k.encode("utf-8"))
    return name, visible


@pytest.fixture(scope="module")
def gen(moto_endpoint: str) -> S3KeyGenerator:
    """The generator under test, with explicit (fake) credentials."""
    return S3KeyGenerator("testing", "testing", endpoint_url=moto_endpoint)


def count_list_calls(generator: S3KeyGenerator) -> list[dict[str, Any]]:
    """Record the params of every ListObjectsV2 request the generator's client makes."""
    calls: list[dict[str, Any]] = []
    generator.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda params, **_: calls.append(params), unique_id=f"count-{id(calls)}"
    )
    return calls


def test_lists_every_key_across_pages_in_utf8_byte_order(
    gen: S3KeyGenerator, big_bucket: tuple[str, list[str]]
) -> None:
    bucket, visible = big_bucket
    calls = count_list_calls(gen)
    listed = gen.list_files(bucket)
    assert len(listed) == len(visible) > 2_000
    assert listed == [f"{bucket}/{k}" for k in visible]
    assert len(calls) >= 3  # more than 1000 keys: several pages


def test_iter_keys_is_lazy_one_page_at_a_time(moto_endpoint: str, big_bucket: tuple[str, list[str]]) -> None:
    bucket, visible = big_bucket
    fresh = S3KeyGenerator("testing", "testing", endpoint_url=moto_endpoint)
    calls = count_list_calls(fresh)
    it = fresh.iter_keys(bucket)
    assert calls == []
    first = next(it)
    assert first.key == visible[0] and len(calls) == 1
    assert first.size == 3 and first.modified.tzinfo is UTC
    assert fresh.list_files(bucket, limit=5) == [f"{bucket}/{k}" for k in visible[:5]]
    assert len(calls) == 2  # the limit stopped listing after the first page


def test_offset_and_limit_across_page_boundaries(gen: S3KeyGenerator, big_bucket: tuple[str, list[str]]) -> None:
    bucket, visible = big_bucket
    got = gen.list_files(bucket, "", 10, 995, None, False, True)  # original positional signature
    assert got == visible[995:1005]
    assert gen.list_files(bucket, offset=len(visible) - 2, return_full_path=False) == visible[-2:]
    assert gen.list_files(bucket, size_limit=0, return_full_path=False) == [k for k in visible if k not in SPECIAL]


def test_prefix_is_recursive_and_non_recursive_uses_delimiter(
    gen: S3KeyGenerator, big_bucket: tuple[str, list[str]]
) -> None:
    bucket, visible = big_bucket
    under = [k for k in visible if k.startswith("p1/d03/")]
    assert [i.key for i in gen.iter_keys(bucket, "p1/d03/")] == under
    assert gen.list_files(bucket, "p1/", return_full_path=False) == [k for k in visible if k.startswith("p1/")]
    assert [i.key for i in gen.iter_keys(bucket, "p1/", recursive=False)] == []
    assert [i.key for i in gen.iter_keys(bucket, "p1/d03/", recursive=False)] == under
    assert [i.key for i in gen.iter_keys(bucket, recursive=False)] == ["space and+plus%25.txt", "tab\there"]


@pytest.mark.parametrize("index", [0, 999, 1000, 1499, 2600])
def test_start_after_resumes_exactly_after_the_cursor(
    gen: S3KeyGenerator, big_bucket: tuple[str, list[str]], index: int
) -> None:
    bucket, visible = big_bucket
    cursor = visible[index]
    assert [i.key for i in gen.iter_keys(bucket, start_after=cursor)] == visible[index + 1 :]


def test_start_after_not_a_key_and_with_prefix(gen: S3KeyGenerator, big_bucket: tuple[str, list[str]]) -> None:
    bucket, visible = big_bucket
    for cursor in ("p1/", "p1/d03/k0", "p1/d03/k99999", "zzzz"):
        expected = [k for k in visible if k.encode() > cursor.encode()]
        assert [i.key for i in gen.iter_keys(bucket, start_after=cursor)] == expected
    in_p2 = [k for k in visible if k.startswith("p2/") and k > "p2/d04/"]
    assert [i.key for i in gen.iter_keys(bucket, "p2/", start_after="p2/d04/")] == in_p2


def test_hidden_and_folder_markers(gen: S3KeyGenerator, big_bucket: tuple[str, list[str]]) -> None:
    bucket, visible = big_bucket
    listed = {i.key for i in gen.iter_keys(bucket)}
    assert not listed & set(HIDDEN) and "p2/" not in listed
    everything = {i.key for i in gen.iter_keys(bucket, skip_common_hidden=False)}
    assert everything == set(visible) | set(HIDDEN)  # hidden names come back, the folder marker never


def test_filters(gen: S3KeyGenerator, make_bucket: Callable[..., str]) -> None:
    bucket = make_bucket({"a/1.csv": b"1", "a/2.csv": b"12345", "a/3.txt": b"123", "b/4.csv": b"1234567890"})
    keys: Callable[..., list[str]] = lambda **kw: [i.key for i in gen.iter_keys(bucket, **kw)]  # noqa: E731
    assert keys(include="*.csv") == ["a/1.csv", "a/2.csv", "b/4.csv"]
    assert keys(include="*.csv", exclude="b/*") == ["a/1.csv", "a/2.csv"]
    assert keys(regex=r"[34]\.") == ["a/3.txt", "b/4.csv"]
    assert keys(min_size=3, max_size=5) == ["a/2.csv", "a/3.txt"]
    assert [(i.key, i.size) for i in gen.iter_keys(bucket, "b/")] == [("b/4.csv", 10)]
    now = datetime.now(UTC)
    assert keys(modified_since=now - timedelta(hours=1)) == ["a/1.csv", "a/2.csv", "a/3.txt", "b/4.csv"]
    assert keys(modified_since=now + timedelta(hours=1)) == []


def test_full_path_keeps_the_key_verbatim(gen: S3KeyGenerator) -> None:
    assert gen.get_final_path("bkt", "a//b/./c", True) == "bkt/a//b/./c"
    assert gen.full_path("bkt", "k") == "bkt/k"
    assert gen.get_final_path("bkt", "a//b", False) == "a//b"


def test_missing_bucket_is_not_found(gen: S3KeyGenerator) -> None:
    with pytest.raises(NotFoundError, match="^bucket 'no-such-bucket-here' does not exist$"):
        gen.list_files("no-such-bucket-here")
    it = gen.iter_keys("no-such-bucket-here")
    with pytest.raises(NotFoundError):
        next(it)


def test_bad_arguments_fail_before_any_request(gen: S3KeyGenerator) -> None:
    calls = count_list_calls(gen)
    for kwargs in ({"limit": -1}, {"offset": -1}, {"size_limit": -5}, {"limit": 1.5}):
        with pytest.raises(InvalidInputError):
            gen.list_files("no-such-bucket-here", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        gen.iter_keys("")
    with pytest.raises(InvalidInputError):
        gen.iter_keys("bucket", min_size=-1)
    with pytest.raises(InvalidInputError):
        gen.iter_keys("bucket", prefix=3)  # type: ignore[arg-type]
    assert calls == []
    with pytest.raises(InvalidInputError):
        S3KeyGenerator("only-the-id")


def test_credentials_from_the_default_chain(moto_endpoint: str, make_bucket: Callable[..., str]) -> None:
    bucket = make_bucket(["k1", "k2"])
    chain = S3KeyGenerator(endpoint_url=moto_endpoint)  # AWS_* env vars set by the moto fixture
    assert chain.list_files(bucket) == [f"{bucket}/k1", f"{bucket}/k2"]
    legacy = S3KeyGenerator(aws_access_key_id="testing", aws_secret_access_key="testing", aws_region="us-east-1")
    assert legacy.client.meta.region_name == "us-east-1"


def _moto_auth(endpoint: str, allowed_unauthenticated: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=allowed_unauthenticated.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["status"] == "ok"


@pytest.fixture
def enforced_auth(moto_endpoint: str, make_bucket: Callable[..., str]) -> Iterator[tuple[str, dict[str, str]]]:
    """A bucket, and keys of an IAM user without policies, with moto's IAM enforcement on during the test."""
    import boto3

    bucket = make_bucket(["k"])
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_endpoint)
    name = f"reader-{bucket}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    _moto_auth(moto_endpoint, "0")
    try:
        yield bucket, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    finally:
        _moto_auth(moto_endpoint, "inf")


def test_real_access_denied_from_moto(moto_endpoint: str, enforced_auth: tuple[str, dict[str, str]]) -> None:
    bucket, credentials = enforced_auth
    denied = S3KeyGenerator(**credentials, endpoint_url=moto_endpoint)
    with pytest.raises(AccessDeniedError, match=rf"access denied listing s3://{bucket}/ \(AccessDenied") as caught:
        denied.list_files(bucket)
    assert isinstance(caught.value, PypelineError) and caught.value.code == "access_denied"
    unknown = S3KeyGenerator("AKIAUNKNOWNUNKNOWN00", "wrong", endpoint_url=moto_endpoint)
    with pytest.raises(AccessDeniedError, match="InvalidAccessKeyId"):
        unknown.list_files(bucket)


@pytest.mark.parametrize(
    ("code", "status", "expected", "text"),
    [
        ("AccessDenied", 403, AccessDeniedError, "access denied listing s3://bkt/pre/ (AccessDenied: nope)"),
        ("ExpiredToken", 400, AccessDeniedError, "ExpiredToken"),
        ("NoSuchBucket", 404, NotFoundError, "bucket 'bkt' does not exist"),
        ("InvalidBucketName", 400, InvalidInputError, "InvalidBucketName"),
        ("PermanentRedirect", 301, SourceError, "another region"),
        ("SlowDown", 503, SourceError, "listing s3://bkt/pre/ failed (SlowDown: nope)"),
    ],
)
def test_client_errors_are_mapped_via_stubber(code: str, status: int, expected: type, text: str) -> None:
    stubbed = S3KeyGenerator("id", "secret", endpoint_url="http://127.0.0.1:9")
    with Stubber(stubbed.client) as stub:
        stub.add_client_error(
            "list_objects_v2", service_error_code=code, service_message="nope", http_status_code=status
        )
        with pytest.raises(expected) as caught:
            stubbed.list_files("bkt", "pre/")
    assert text in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)


def test_stubbed_pages_are_followed_with_continuation_tokens() -> None:
    stubbed = S3KeyGenerator("id", "secret", endpoint_url="http://127.0.0.1:9")
    t = datetime(2024, 1, 1, tzinfo=UTC)
    with Stubber(stubbed.client) as stub:
        stub.add_response(
            "list_objects_v2",
            {
                "Contents": [{"Key": "a", "Size": 1, "LastModified": t}],
                "IsTruncated": True,
                "NextContinuationToken": "t1",
            },
            {"Bucket": "bkt", "Prefix": "", "StartAfter": "0"},
        )
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "b", "Size": 2, "LastModified": t}], "IsTruncated": False},
            {"Bucket": "bkt", "Prefix": "", "StartAfter": "0", "ContinuationToken": "t1"},
        )
        assert [(i.key, i.size, i.modified) for i in stubbed.iter_keys("bkt", start_after="0")] == [
            ("a", 1, t),
            ("b", 2, t),
        ]
        stub.assert_no_pending_responses()


def test_non_client_errors_are_mapped() -> None:
    assert isinstance(translate_s3_error(NoCredentialsError(), "b"), AccessDeniedError)
    assert isinstance(translate_s3_error(ParamValidationError(report="bad"), "b"), InvalidInputError)
    unreachable = translate_s3_error(EndpointConnectionError(endpoint_url="http://x"), "b", "p/")
    assert isinstance(unreachable, SourceError) and "s3://b/p/" in str(unreachable)
