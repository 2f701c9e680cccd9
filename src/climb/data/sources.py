"""Reading training-data sources (JSON, JSONL, CSV, Parquet) into plain dict rows.

Rows are streamed one at a time so that memory stays flat however large the file is. A source
that cannot be read at all fails with an error naming the file; individual rows that cannot be
decoded are reported to the caller as `BadRow` so it can count them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED = (".json", ".jsonl", ".csv", ".parquet")


class SourceError(RuntimeError):
    """A data source cannot be read; the message names the source and the fix."""


@dataclass(frozen=True)
class BadRow:
    """A row that could not be decoded (reason is a short machine-friendly label)."""

    reason: str
    detail: str


def file_digest(path: Path) -> str:
    """Return the sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_source(path: str) -> Path:
    """Return the local path of a source, or raise SourceError saying what is wrong."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SourceError(
            f"data.sources: {path} does not exist (paths are relative to the "
            "folder you run climb from)"
        )
    if p.suffix.lower() not in SUPPORTED:
        raise SourceError(f"data.sources: {path} has suffix {p.suffix!r}; supported: {SUPPORTED}")
    return p


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any] | BadRow]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield BadRow("undecodable", f"{path.name}:{lineno} is not UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield BadRow("invalid_json", f"{path.name}:{lineno}: {exc.msg}")
                continue
            yield row if isinstance(row, dict) else BadRow("not_an_object", f"{path.name}:{lineno}")


def _iter_json(path: Path) -> Iterator[dict[str, Any] | BadRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"data.sources: {path} is not a valid JSON file ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise SourceError(f"data.sources: {path} must hold a JSON list of objects")
    for i, row in enumerate(data):
        yield row if isinstance(row, dict) else BadRow("not_an_object", f"{path.name}[{i}]")


def _iter_csv(path: Path) -> Iterator[dict[str, Any] | BadRow]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
    except UnicodeDecodeError as exc:
        yield BadRow("undecodable", f"{path.name}: {exc}")


def _iter_parquet(path: Path) -> Iterator[dict[str, Any] | BadRow]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise SourceError(f"data.sources: {path} is not a readable Parquet file ({exc})") from exc
    for batch in pf.iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def iter_rows(path: Path) -> Iterator[dict[str, Any] | BadRow]:
    """Yield each row of a local source as a dict, or a BadRow for rows that cannot be decoded."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _iter_jsonl(path)
    if suffix == ".json":
        return _iter_json(path)
    if suffix == ".csv":
        return _iter_csv(path)
    return _iter_parquet(path)
