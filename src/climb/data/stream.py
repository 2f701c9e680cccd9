"""One stream of rows per configured source, and the weighted mix of several.

`stream_source` reads a local file, an S3 object/prefix or a Hub dataset (`hf://datasets/ID`,
through `datasets.load_dataset(..., streaming=True)`, which also reads a local dataset folder
given as ID). `source_identity` names a source's exact content for the cache key: file bytes,
S3 ETags, or the Hub dataset's resolved commit.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from climb.config import SourceConfig
from climb.data.sources import BadRow, Row, SourceError, iter_file, resolve_source
from climb.state import file_sha256

log = logging.getLogger(__name__)
HUB_PREFIX = "hf://datasets/"


def hub_id(path: str) -> str:
    """Return the dataset id of an `hf://datasets/ID` source."""
    return path[len(HUB_PREFIX) :].strip("/")


def iter_hub(src: SourceConfig) -> Iterator[Row | BadRow]:
    """Yield the rows of a Hub dataset split (streamed unless `src.streaming` is false)."""
    import datasets

    repo = hub_id(src.path)
    try:
        ds = datasets.load_dataset(
            repo, name=src.subset, split=src.split, revision=src.revision, streaming=src.streaming
        )
        rows = iter(ds)
        first = next(rows, None)
    except Exception as exc:
        raise SourceError(
            f"data.sources: cannot load Hub dataset {src.path} (subset "
            f"{src.subset!r}, split {src.split!r}, revision {src.revision!r}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if first is None:
        return
    yield dict(first)
    for row in rows:
        yield dict(row)


def stream_source(src: SourceConfig, raw: bool = False) -> Iterator[Any]:
    """Yield the rows of one configured source; raise SourceError when it cannot be read.
    With `raw`, a local JSONL file's lines come undecoded (`climb.data.sources.RawLine`)."""
    if src.path.startswith("s3://"):
        from climb.data.s3 import iter_s3

        return iter_s3(src.path)
    if src.path.startswith(HUB_PREFIX):
        return iter_hub(src)
    return iter_file(resolve_source(src.path), src.path, raw=raw)


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(folder)).encode() + b"\0" + file_sha256(p).encode())
    return h.hexdigest()


def _hub_revision(src: SourceConfig) -> str:
    repo = hub_id(src.path)
    if Path(repo).is_dir():
        return "local:" + _folder_digest(Path(repo))
    if src.revision and len(src.revision) == 40:
        return src.revision
    try:
        from huggingface_hub import HfApi

        return str(HfApi().dataset_info(repo, revision=src.revision).sha)
    except Exception as exc:
        log.warning(
            "data: cannot resolve the commit of %s (%s); pin data.sources[].revision so "
            "the cache key names exact content",
            src.path,
            exc,
        )
        return f"unresolved:{src.revision}"


def source_identity(src: SourceConfig) -> str:
    """Return a string that changes whenever the source's content may have changed."""
    if src.path.startswith("s3://"):
        from climb.data.s3 import list_objects

        objs = list_objects(src.path)
        return "s3:" + ";".join(f"{o.key}={o.etag}/{o.size}" for o in objs)
    if src.path.startswith(HUB_PREFIX):
        return f"hub:{hub_id(src.path)}:{src.subset}:{src.split}:{_hub_revision(src)}"
    return "file:" + file_sha256(resolve_source(src.path))


def interleave(
    streams: list[Iterator[Any]], weights: list[float], rng: random.Random
) -> Iterator[tuple[int, Any]]:
    """Yield (stream index, item) drawing the next stream with probability proportional to its
    weight among those not yet exhausted, so sources are mixed all along, not one after another.
    A single stream is passed through (no draw).
    """
    if len(streams) == 1:
        yield from ((0, item) for item in streams[0])
        return
    live = list(range(len(streams)))
    while live:
        i = rng.choices(live, weights=[weights[j] for j in live])[0]
        try:
            item = next(streams[i])
        except StopIteration:
            live.remove(i)
            continue
        yield i, item
