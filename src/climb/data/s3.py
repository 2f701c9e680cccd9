"""Training-data sources on S3: an object, or every supported object under a prefix, read as
rows (through climb.storage, the one S3 layer: its endpoint rule and client).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from climb import storage
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


def list_objects(uri: str, s3: Any = None) -> list[storage.ObjectInfo]:
    """Return the objects a source URI names: the object itself, or every supported object under
    a prefix ending in `/`, sorted by key. Raise SourceError naming the URI when nothing can be
    listed or read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        loc = storage.parse(uri, "data.sources")
        s3 = s3 or storage.client()
        if loc.key and not loc.key.endswith("/"):
            suffix_of(loc.key)
            return [storage.head(loc, s3)]
        out = [o for o in storage.list_objects(loc, s3) if Path(o.key).suffix.lower() in SUPPORTED]
    except storage.StorageError as exc:
        raise SourceError(str(exc)) from exc
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"data.sources: cannot read {uri} ({exc})") from exc
    if not out:
        raise SourceError(f"data.sources: {uri} holds no {SUPPORTED} objects")
    return out


def iter_s3(uri: str) -> Iterator[Row | BadRow]:
    """Yield the rows of an S3 source: JSONL and CSV stream line by line from the response body;
    JSON and Parquet are spooled to a temporary file first (they need the whole object).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = storage.client()
    loc = storage.parse(uri, "data.sources")
    for obj in list_objects(uri, s3):
        name = f"s3://{loc.bucket}/{obj.key}"
        suffix = suffix_of(obj.key)
        try:
            if suffix in (".jsonl", ".csv"):
                lines = storage.iter_lines(storage.S3Uri(loc.bucket, obj.key), s3)
                yield from (iter_jsonl if suffix == ".jsonl" else iter_csv)(lines, name)
                continue
            with tempfile.TemporaryDirectory(prefix="climb-s3-") as tmp:
                local = Path(tmp) / Path(obj.key).name
                storage.download_file(storage.S3Uri(loc.bucket, obj.key), local, s3)
                yield from iter_file(local, name)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"data.sources: reading {name} failed ({exc})") from exc
