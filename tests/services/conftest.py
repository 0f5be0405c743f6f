"""Service tests reuse the moto S3 server fixtures of the generator tests."""
from __future__ import annotations

from tests.generators.conftest import bulk_put, make_bucket, moto_endpoint, s3_client  # noqa: F401 - fixtures
