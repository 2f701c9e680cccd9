"""The one S3 layer: data sources, prepared datasets, training checkpoints and benchmark mirrors
all reach S3 (or an S3-compatible store such as MinIO) through these functions.

- One client factory, one endpoint rule: an explicit endpoint, else AWS_ENDPOINT_URL_S3, else
  AWS_ENDPOINT_URL, else MLFLOW_S3_ENDPOINT_URL (so one setting serves MLflow's artifacts and
  climb's data alike), else AWS itself. Credentials and region come from the usual AWS settings.
- One URI parser (`parse`), naming the setting that held a bad URI.
- Path safety: an object key that would land outside the target folder (`..`, absolute) is
  refused, never written.
- Transfers of whole folders run in parallel through boto3's own transfer manager
  (`create_transfer_manager`: concurrent files, multipart for large ones). A folder's marker
  files (a manifest, a completion marker) go last, after every other file has landed, so a
  reader that finds the marker finds the whole folder.

Why not s3fs or pyarrow.fs: s3fs needs aiobotocore, whose botocore pin does not resolve with the
boto3 that MLflow and climb use (pip falls back to s3fs 0.4); pyarrow.fs lists no ETags, which
are the content identity of an S3 data source in the data cache key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
MAX_CONCURRENCY = 8


class StorageError(RuntimeError):
    """An S3 URI is malformed, or a key would escape its folder; the message says which."""


@dataclass(frozen=True)
class S3Uri:
    """A parsed s3://bucket/key URI (key without a leading slash; may be a prefix)."""

    bucket: str
    key: str

    def join(self, *parts: str) -> S3Uri:
        """This URI with `parts` appended as path segments."""
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return S3Uri(self.bucket, key)

    @property
    def prefix(self) -> str:
        """The key as a folder prefix: `a/b/` (empty for the bucket root)."""
        return f"{self.key.rstrip('/')}/" if self.key else ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its key, ETag and size."""

    key: str
    etag: str
    size: int


def parse(uri: str, setting: str = "S3 URI") -> S3Uri:
    """Parse `s3://bucket/key`; raise StorageError naming `setting` for anything else."""
    if not uri.startswith("s3://"):
        raise StorageError(f"{setting}: {uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or "/" in bucket or bucket in (".", ".."):
        raise StorageError(f"{setting}: {uri!r} has no bucket; write s3://bucket/key")
    return S3Uri(bucket, key.lstrip("/"))


def endpoint(explicit: str | None = None) -> str | None:
    """The S3 endpoint climb uses: `explicit`, else the first of ENDPOINT_VARIABLES set."""
    return explicit or next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)


def client(endpoint_url: str | None = None) -> Any:
    """Return a boto3 S3 client for `endpoint(endpoint_url)`."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint(endpoint_url))


def safe_target(root: Path, relative: str) -> Path:
    """Return `root / relative` for an object key relative to a prefix; raise StorageError when
    it would land outside `root` (absolute, `..`, empty)."""
    rel = PurePosixPath(relative)
    if not relative or rel.is_absolute() or ".." in rel.parts:
        raise StorageError(f"object key {relative!r} would be written outside {root}")
    target = root / Path(*rel.parts)
    if root.resolve() not in target.resolve().parents:
        raise StorageError(f"object key {relative!r} would be written outside {root}")
    return target


def list_objects(uri: S3Uri, s3: Any = None) -> list[ObjectInfo]:
    """Every object under the prefix `uri` (all pages), sorted by key."""
    s3 = s3 or client()
    out = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.prefix)
    for page in pages:
        out += [ObjectInfo(o["Key"], o["ETag"], o["Size"]) for o in page.get("Contents", [])]
    return sorted(out, key=lambda o: o.key)


def head(uri: S3Uri, s3: Any = None) -> ObjectInfo:
    """The object `uri` itself (raises botocore's ClientError when it is missing)."""
    s3 = s3 or client()
    meta = s3.head_object(Bucket=uri.bucket, Key=uri.key)
    return ObjectInfo(uri.key, meta["ETag"], meta["ContentLength"])


def exists(uri: S3Uri, s3: Any = None) -> bool:
    """True when the object `uri` exists, False when it does not; other errors raise."""
    from botocore.exceptions import ClientError

    try:
        head(uri, s3)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _manager(s3: Any) -> Any:
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    return create_transfer_manager(s3, TransferConfig(max_concurrency=MAX_CONCURRENCY))


def _wait_all(futures: list[Any]) -> None:
    """Wait for every transfer; raise the first failure once all have finished."""
    first: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first


def upload_dir(local: Path, uri: S3Uri, last: tuple[str, ...] = (), s3: Any = None) -> list[str]:
    """Upload every file of `local` under the prefix `uri`, in parallel; the files named in
    `last` (relative paths) go after all others have landed. Returns the URIs written."""
    s3 = s3 or client()
    files = sorted(p for p in local.rglob("*") if p.is_file())
    rel = {p: p.relative_to(local).as_posix() for p in files}
    first_wave = [p for p in files if rel[p] not in last]
    second_wave = [p for p in files if rel[p] in last]
    written = []
    for wave in (first_wave, second_wave):
        with _manager(s3) as manager:
            futures = [manager.upload(str(p), uri.bucket, uri.join(rel[p]).key) for p in wave]
            _wait_all(futures)
        written += [str(uri.join(rel[p])) for p in wave]
    return written


def put_bytes(uri: S3Uri, body: bytes, s3: Any = None) -> None:
    """Write a small object (e.g. a completion marker)."""
    (s3 or client()).put_object(Bucket=uri.bucket, Key=uri.key, Body=body)


def download_prefix(
    uri: S3Uri, local: Path, skip: tuple[str, ...] = (), s3: Any = None
) -> list[Path]:
    """Download every object under the prefix `uri` into `local` in parallel, keeping paths
    relative to the prefix (keys named in `skip` are left out). Returns the files written;
    raises StorageError before writing anything when a key would land outside `local`."""
    s3 = s3 or client()
    jobs = []
    for obj in list_objects(uri, s3):
        rel = obj.key[len(uri.prefix) :]
        if rel in skip or rel.endswith("/"):
            continue
        jobs.append((obj.key, safe_target(local, rel)))
    with _manager(s3) as manager:
        futures = []
        for key, target in jobs:
            target.parent.mkdir(parents=True, exist_ok=True)
            futures.append(manager.download(uri.bucket, key, str(target)))
        _wait_all(futures)
    return [target for _, target in jobs]


def delete_prefix(uri: S3Uri, s3: Any = None) -> int:
    """Delete every object under the prefix `uri`; return how many."""
    s3 = s3 or client()
    keys = [o.key for o in list_objects(uri, s3)]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        s3.delete_objects(Bucket=uri.bucket, Delete={"Objects": batch})
    return len(keys)


def iter_lines(uri: S3Uri, s3: Any = None) -> Iterator[bytes]:
    """Stream an object's lines (with their line ends) without holding it in memory."""
    body = (s3 or client()).get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    yield from body.iter_lines(keepends=True)


def download_file(uri: S3Uri, target: Path, s3: Any = None) -> Path:
    """Download one object to `target`; return it."""
    (s3 or client()).download_file(uri.bucket, uri.key, str(target))
    return target
