"""Fixtures for service tests: the moto S3 server and bucket fillers of `tests.generators.s3`."""
from tests.generators.s3 import bulk_put, make_bucket, moto_endpoint, s3_client  # noqa: F401 - fixtures
