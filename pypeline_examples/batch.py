"""Handler of the `demo-files` batch in sermos.yaml.example: count lines and bytes of each file in a chunk.

A batch gives every chunk run `chain_payload = {"keys": [...], "batch_source": {...}, "chunk": n,
"batch_run_id": ..., "batch_id": ...}`; keys are relative to the source (a folder, or an S3 bucket).
"""
from __future__ import annotations

from typing import Any

__all__ = ["count_lines", "read_key"]


def read_key(source: dict[str, Any], key: str) -> bytes:
    """The content of one key of a batch source (local folder or S3 bucket)."""
    if source["type"] == "local":
        from pypeline.generators.local import LocalKeyGenerator

        # open_key refuses keys with ".." and (unless the batch enabled followSymlinks) links leaving the folder.
        follow = bool(source.get("follow_symlinks", False))
        with LocalKeyGenerator().open_key(source["path"], key, follow_symlinks=follow) as fh:
            return fh.read()
    import boto3

    client = boto3.client("s3", endpoint_url=source.get("endpoint_url"), region_name=source.get("region"))
    return client.get_object(Bucket=source["bucket"], Key=key)["Body"].read()


def count_lines(event: dict[str, Any]) -> dict[str, Any]:
    """Lines and bytes per file of this chunk, and their totals."""
    payload = event["chain_payload"]
    files = {}
    for key in payload["keys"]:
        data = read_key(payload["batch_source"], key)
        files[key] = {"lines": data.count(b"\n"), "bytes": len(data)}
    return {"chunk": payload["chunk"], "files": files,
            "lines": sum(f["lines"] for f in files.values()), "bytes": sum(f["bytes"] for f in files.values())}
