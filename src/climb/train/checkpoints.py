"""Atomic, resumable checkpoints for the HF Trainer, optionally mirrored to S3.

The Trainer writes `checkpoint-N/` file by file, on every rank; a run killed half-way leaves a
folder that `resume_from_checkpoint` would trust and crash on (or worse, silently load a stale
optimizer). Here every rank saves into `<output>/.staging/checkpoint-N`, all ranks meet at a
barrier, and rank 0 renames the folder into place in one step: a `checkpoint-N` folder exists
only when it is complete. The newest K are kept. With an S3 URI, rank 0 uploads each complete
checkpoint and writes a `COMPLETE` marker object last, so a reader of the bucket never takes a
partial upload; a fresh pod with an empty disk resumes from the newest complete one there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STAGING = ".staging"
MARKER = "COMPLETE"


def complete_checkpoints(root: Path) -> list[Path]:
    """Return the complete checkpoints under `root`, oldest step first."""
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if p.is_dir() and (m := CHECKPOINT.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    """Return the newest complete checkpoint under `root`, or None."""
    found = complete_checkpoints(root)
    return found[-1] if found else None


def discard_staging(root: Path) -> None:
    """Remove half-written checkpoints left by a killed run (never visible, never loaded)."""
    staging = root / STAGING
    if staging.exists():
        log.info("discarding incomplete checkpoint(s) in %s", staging)
        shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


def publish_checkpoint(root: Path, name: str, keep: int) -> Path:
    """Move `<root>/.staging/<name>` into `<root>/<name>` atomically; keep the newest `keep`."""
    src, dst = root / STAGING / name, root / name
    _fsync_tree(src)
    if dst.exists():  # the same step saved again after a resume
        shutil.rmtree(dst)
    os.rename(src, dst)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    for old in complete_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return dst


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"train.checkpoint_uri {uri!r} must start with s3://")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.rstrip("/")


def s3_client() -> Any:
    """Return a boto3 S3 client (AWS_* env, AWS_ENDPOINT_URL_S3 / MLFLOW_S3_ENDPOINT_URL)."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint)


def upload_checkpoint(folder: Path, uri: str, keep: int, client: Any = None) -> None:
    """Upload a complete checkpoint under `uri/<name>/`, marker last; prune older ones there."""
    client = client or s3_client()
    bucket, prefix = _split_s3(uri)
    base = f"{prefix}/{folder.name}" if prefix else folder.name
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            client.upload_file(str(p), bucket, f"{base}/{p.relative_to(folder)}")
    client.put_object(Bucket=bucket, Key=f"{base}/{MARKER}", Body=b"")
    for old in remote_checkpoints(uri, client)[:-keep]:
        _delete_prefix(client, bucket, f"{prefix}/{old}" if prefix else old)


def _delete_prefix(client: Any, bucket: str, prefix: str) -> None:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def remote_checkpoints(uri: str, client: Any = None) -> list[str]:
    """Return the names of complete checkpoints under `uri` (with a marker), oldest first."""
    client = client or s3_client()
    bucket, prefix = _split_s3(uri)
    lead = f"{prefix}/" if prefix else ""
    names = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=lead):
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(lead) :].split("/")
            if len(parts) == 2 and parts[1] == MARKER and CHECKPOINT.match(parts[0]):
                names.add(parts[0])
    return sorted(names, key=lambda n: int(n.split("-")[1]))


def download_latest(uri: str, root: Path, client: Any = None) -> Path | None:
    """Download the newest complete remote checkpoint into `root` (atomically); return it."""
    client = client or s3_client()
    names = remote_checkpoints(uri, client)
    if not names:
        return None
    bucket, prefix = _split_s3(uri)
    name = names[-1]
    base = f"{prefix}/{name}" if prefix else name
    staging = root / STAGING / name
    staging.mkdir(parents=True, exist_ok=True)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + "/")
    for page in pages:
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(base) + 1 :]
            if rel == MARKER:
                continue
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
    return publish_checkpoint(root, name, keep=10**6)
