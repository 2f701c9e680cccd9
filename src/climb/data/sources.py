"""Reading training-data sources into plain dict rows, one at a time.

A source is a local file (JSON, JSONL, CSV, Parquet), an S3 object or prefix, or a Hugging Face
Hub dataset (see `climb.data.remote`). Rows are streamed so memory stays flat however large the
source is (a whole-document JSON file and a Parquet object on S3 are the exceptions: the first is
parsed at once, the second is spooled to a temporary file and then read a row group at a time).

A source that cannot be read at all raises `SourceError` naming it; single rows that cannot be
decoded are yielded as `BadRow` so the caller can count them by reason.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SUPPORTED = (".json", ".jsonl", ".csv", ".parquet")
Row = dict[str, Any]


class SourceError(RuntimeError):
    """A data source cannot be read; the message names the source and the fix."""


@dataclass(frozen=True)
class BadRow:
    """A row that could not be used (reason is a short machine-friendly label)."""

    reason: str
    detail: str


def suffix_of(name: str) -> str:
    """Return the lower-cased suffix of a file or object name, or raise SourceError."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise SourceError(f"data.sources: {name} has suffix {suffix!r}; supported: {SUPPORTED}")
    return suffix


def resolve_source(path: str) -> Path:
    """Return the local path of a file source, or raise SourceError saying what is wrong."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SourceError(
            f"data.sources: {path} does not exist (paths are relative to the "
            "folder you run climb from)"
        )
    suffix_of(path)
    return p


@dataclass(frozen=True)
class RawLine:
    """One undecoded JSONL line (decoded later, in a worker process, by `decode_line`)."""

    data: bytes
    name: str
    lineno: int


def decode_line(raw: bytes, name: str, lineno: int) -> Row | BadRow:
    """Return the object of one JSON line, or a BadRow saying why it is not one."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return BadRow("undecodable", f"{name}:{lineno} is not UTF-8")
    except json.JSONDecodeError as exc:
        return BadRow("invalid_json", f"{name}:{lineno}: {exc.msg}")
    return row if isinstance(row, dict) else BadRow("not_an_object", f"{name}:{lineno}")


def iter_jsonl_lines(lines: Iterable[bytes], name: str) -> Iterator[RawLine]:
    """Yield each non-empty line undecoded (see `iter_jsonl` for the decoded rows)."""
    for lineno, raw in enumerate(lines, 1):
        if raw.strip():
            yield RawLine(raw, name, lineno)


def iter_jsonl(lines: Iterable[bytes], name: str) -> Iterator[Row | BadRow]:
    """Yield the object of each non-empty JSON line; BadRow for lines that do not decode."""
    for line in iter_jsonl_lines(lines, name):
        yield decode_line(line.data, name, line.lineno)


def iter_csv(lines: Iterable[bytes], name: str) -> Iterator[Row | BadRow]:
    """Yield each CSV record as a dict (header = first line); BadRow for non-UTF-8 records."""
    text = (line.decode("utf-8", errors="surrogateescape") for line in lines)
    reader = csv.DictReader(text)
    for row in reader:
        values = [v for v in row.values() if isinstance(v, str)]
        if any(_has_surrogates(v) for v in values):
            yield BadRow("undecodable", f"{name}:{reader.line_num} is not UTF-8")
        elif None in row:
            yield BadRow("wrong_type", f"{name}:{reader.line_num} has more fields than the header")
        else:
            yield row


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iter_json_document(fh: IO[bytes], name: str) -> Iterator[Row | BadRow]:
    """Yield the objects of a JSON document holding a list (or {"data": [...]})."""
    try:
        data = json.loads(fh.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"data.sources: {name} is not a valid JSON file ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise SourceError(f"data.sources: {name} must hold a JSON list of objects")
    for i, row in enumerate(data):
        yield row if isinstance(row, dict) else BadRow("not_an_object", f"{name}[{i}]")


def iter_parquet(path: Path, name: str) -> Iterator[Row | BadRow]:
    """Yield the rows of a Parquet file, one record batch (1,024 rows) in memory at a time."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise SourceError(f"data.sources: {name} is not a readable Parquet file ({exc})") from exc
    for batch in pf.iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def iter_file(path: Path, name: str | None = None, raw: bool = False) -> Iterator[Any]:
    """Yield each row of a local file source, choosing the reader by its suffix; with `raw`,
    a JSONL file's lines come undecoded (RawLine), for the worker processes to decode."""
    name = name or str(path)
    suffix = suffix_of(name)
    if suffix == ".parquet":
        yield from iter_parquet(path, name)
        return
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SourceError(f"data.sources: cannot open {name} ({exc})") from exc
    with fh:
        if suffix == ".jsonl":
            yield from (iter_jsonl_lines if raw else iter_jsonl)(fh, name)
        elif suffix == ".csv":
            yield from iter_csv(fh, name)
        else:
            yield from iter_json_document(fh, name)


def iter_rows(path: Path) -> Iterator[Row | BadRow]:
    """Yield each row of a local source as a dict, or a BadRow for rows that cannot be decoded."""
    return iter_file(path)


def source_label(path: str) -> str:
    """Return how a source is named in reports (its path or URI as configured)."""
    return path
