"""S3 for data sources and prepared datasets (boto3).

The endpoint comes from the environment as boto3 reads it (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL),
falling back to MLFLOW_S3_ENDPOINT_URL so one setting serves MLflow artifacts and data alike;
tests point it at a local moto_server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from climb.data.sources import (
    SUPPORTED,
    BadRow,
    Row,
    SourceError,
    iter_csv,
    iter_file,
    iter_jsonl,
    suffix_of,
)


def s3_client() -> Any:
    """Return a boto3 S3 client for the configured endpoint."""
    import boto3

    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
        or None
    )
    return boto3.client("s3", endpoint_url=endpoint)


def split_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key); raise SourceError for anything else."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise SourceError(f"{uri} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def list_objects(uri: str, client: Any = None) -> list[dict[str, Any]]:
    """Return the objects a source URI names: the object itself, or every supported object under
    a prefix ending in `/`, sorted by key; each {key, etag, size}. Raise SourceError naming the URI
    when nothing can be listed or read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or s3_client()
    bucket, key = split_uri(uri)
    try:
        if key and not key.endswith("/"):
            suffix_of(key)
            head = client.head_object(Bucket=bucket, Key=key)
            return [{"key": key, "etag": head["ETag"], "size": head["ContentLength"]}]
        out = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            out += [
                {"key": o["Key"], "etag": o["ETag"], "size": o["Size"]}
                for o in page.get("Contents", [])
                if Path(o["Key"]).suffix.lower() in SUPPORTED
            ]
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"data.sources: cannot read {uri} ({exc})") from exc
    if not out:
        raise SourceError(f"data.sources: {uri} holds no {SUPPORTED} objects")
    return sorted(out, key=lambda o: o["key"])


def iter_s3(uri: str) -> Iterator[Row | BadRow]:
    """Yield the rows of an S3 source: JSONL and CSV stream line by line from the response body;
    JSON and Parquet are spooled to a temporary file first (they need the whole object).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client()
    bucket, _ = split_uri(uri)
    for obj in list_objects(uri, client):
        name = f"s3://{bucket}/{obj['key']}"
        suffix = suffix_of(obj["key"])
        try:
            if suffix in (".jsonl", ".csv"):
                body = client.get_object(Bucket=bucket, Key=obj["key"])["Body"]
                lines = body.iter_lines(keepends=True)
                yield from (iter_jsonl if suffix == ".jsonl" else iter_csv)(lines, name)
                continue
            with tempfile.TemporaryDirectory(prefix="climb-s3-") as tmp:
                local = Path(tmp) / Path(obj["key"]).name
                client.download_file(bucket, obj["key"], str(local))
                yield from iter_file(local, name)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"data.sources: reading {name} failed ({exc})") from exc


def upload_dir(local: Path, uri: str) -> list[str]:
    """Upload every file of `local` under the prefix `uri`; return the object URIs written.
    The manifest (if any) goes last, so a reader that finds it finds the whole dataset.
    """
    client = s3_client()
    bucket, prefix = split_uri(uri)
    files = sorted(
        (p for p in local.rglob("*") if p.is_file()),
        key=lambda p: (p.name == "manifest.json", str(p)),
    )
    written = []
    for p in files:
        key = f"{prefix.rstrip('/')}/{p.relative_to(local).as_posix()}".lstrip("/")
        client.upload_file(str(p), bucket, key)
        written.append(f"s3://{bucket}/{key}")
    return written


def exists(uri: str) -> bool:
    """Return True when the object `uri` exists (False when it does not; other errors raise)."""
    from botocore.exceptions import ClientError

    bucket, key = split_uri(uri)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def download_dir(uri: str, local: Path) -> None:
    """Download every object under the prefix `uri` into `local`, keeping relative paths."""
    client = s3_client()
    bucket, prefix = split_uri(uri)
    prefix = prefix.rstrip("/") + "/"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = local / obj["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
