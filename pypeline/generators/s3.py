"""S3KeyGenerator: every key under an S3 (or S3-compatible) prefix, paginated and streamed in S3's order."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pypeline.errors import InvalidInputError, NotFoundError, PypelineError
from pypeline.generators.base import AccessDeniedError, KeyGenerator, KeyInfo, SourceError, check_count
from pypeline.generators.filters import KeyFilter

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

__all__ = ["S3KeyGenerator", "translate_s3_error"]

_UTC = timezone.utc

#: S3 error codes that mean "these credentials may not list this bucket".
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "UnauthorizedAccess",
        "403",
    }
)
_INVALID_CODES = frozenset({"InvalidBucketName", "InvalidArgument", "InvalidRequest", "KeyTooLongError"})


def translate_s3_error(exc: Exception, bucket: str, prefix: str = "") -> PypelineError:
    """The Pypeline error for a botocore exception raised while listing `s3://bucket/prefix`."""
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
    )

    where = f"s3://{bucket}/{prefix}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = error.get("Message") or ""
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code}: {message}" if message else code
        if code in ("NoSuchBucket", "404") or (code == "NotFound" and status == 404):
            return NotFoundError(f"bucket {bucket!r} does not exist")
        if code in _DENIED_CODES or status == 403:
            return AccessDeniedError(f"access denied listing {where} ({detail})")
        if code in _INVALID_CODES:
            return InvalidInputError(f"S3 rejected listing {where} ({detail})")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
            return SourceError(f"bucket {bucket!r} is in another region than the client's ({detail})")
        return SourceError(f"listing {where} failed ({detail})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AccessDeniedError(f"no usable AWS credentials to list {where}: {exc}")
    if isinstance(exc, ParamValidationError):
        return InvalidInputError(f"invalid S3 listing request for {where}: {exc}")
    return SourceError(f"listing {where} failed: {exc}")


def _utc(value: Any) -> datetime:
    """LastModified as a UTC datetime (S3 always sends it; the epoch stands in if a clone does not)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return datetime.fromtimestamp(0, _UTC)


class S3KeyGenerator(KeyGenerator):
    """Lists keys of an S3 bucket recursively with `list_objects_v2` pagination; errors are raised, not logged."""

    def __init__(
        self,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_region: str | None = "us-east-1",
        *,
        endpoint_url: str | None = None,
        session: Session | None = None,
        addressing_style: Literal["auto", "path", "virtual"] | None = None,
    ) -> None:
        """Build the S3 client: explicit keys, else the boto3 chain (env, files, role); any endpoint (MinIO...)."""
        super().__init__()
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise InvalidInputError("give both aws_access_key_id and aws_secret_access_key, or neither")
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("S3KeyGenerator needs boto3: pip install 'celery-pypeline[s3]'") from exc
        self.aws_region = aws_region
        self.endpoint_url = endpoint_url
        style = addressing_style or ("path" if endpoint_url else "auto")
        config = Config(retries={"mode": "standard", "max_attempts": 5}, s3={"addressing_style": style})
        self.session = session if session is not None else boto3.session.Session()
        self.client = self.session.client(
            "s3",
            region_name=aws_region,
            endpoint_url=endpoint_url,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            config=config,
        )

    def get_final_path(self, base_path: str, file_key: str, return_full_path: bool) -> str:
        """`bucket/key` verbatim (no normpath: S3 keys are opaque, 'a//b' and 'a/b' are different objects)."""
        return f"{base_path}/{file_key}" if return_full_path else file_key

    def iter_keys(
        self,
        bucket: str,
        prefix: str = "",
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        regex: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        modified_since: datetime | None = None,
        start_after: str | None = None,
        recursive: bool = True,
        skip_common_hidden: bool = True,
    ) -> Iterator[KeyInfo]:
        """Stream `KeyInfo`s of `bucket` under `prefix`, one page at a time, in S3's (UTF-8 byte) order."""
        if not isinstance(bucket, str) or not bucket:
            raise InvalidInputError(f"bucket must be a non-empty string, got {bucket!r}")
        for name, value in (("prefix", prefix), ("start_after", start_after)):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{name} must be a string, got {value!r}")
        key_filter = KeyFilter.build(include, exclude, regex, min_size, max_size, modified_since)
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix or ""}
        if start_after:
            request["StartAfter"] = start_after
        if not recursive:
            request["Delimiter"] = "/"
        return self._iter(request, skip_common_hidden, key_filter)

    def _pages(self, request: dict[str, Any]) -> Iterator[ListObjectsV2OutputTypeDef]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages = iter(self.client.get_paginator("list_objects_v2").paginate(**request))
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except (ClientError, BotoCoreError) as exc:
                raise translate_s3_error(exc, request["Bucket"], request["Prefix"]) from exc
            yield page

    def _iter(self, request: dict[str, Any], skip_hidden: bool, key_filter: KeyFilter) -> Iterator[KeyInfo]:
        check_key = key_filter.checks_key
        check_meta = key_filter.checks_meta
        is_hidden = self.is_hidden
        for page in self._pages(request):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                size = obj.get("Size", 0)
                if size == 0 and key.endswith("/"):
                    continue  # a "folder" placeholder made by consoles, not a file
                if skip_hidden and is_hidden(key):
                    continue
                if check_key and not key_filter.match_key(key):
                    continue
                modified = _utc(obj.get("LastModified"))
                if check_meta and not key_filter.match_meta(size, modified):
                    continue
                yield KeyInfo(key, size, modified)

    def list_files(
        self,
        bucket: str,
        folder: str = "",
        limit: int | None = None,
        offset: int | None = None,
        size_limit: int | None = None,
        return_full_path: bool = True,
        skip_common_hidden: bool = True,
    ) -> list[str]:
        """Every key under the `folder` prefix (recursive, all pages), as `bucket/key` or bare keys."""
        check_count("limit", limit)
        check_count("offset", offset)
        check_count("size_limit", size_limit)
        keys = self.iter_keys(bucket, folder, skip_common_hidden=skip_common_hidden)
        return self.list_iterator(keys, bucket, limit, offset, size_limit, return_full_path, skip_common_hidden)
