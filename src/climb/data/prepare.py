"""The data-preparation stage: sources -> normalised messages -> tokenised rows -> Parquet.

The output folder is named by a key over everything that decides its content (the source files'
bytes, the data config, the tokenizer), so the same inputs are never prepared twice; its
manifest carries the content digest that MLflow records as the dataset's version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from climb.config import DataConfig
from climb.data.formats import normalise
from climb.data.sources import BadRow, file_digest, iter_rows, resolve_source
from climb.data.tokenize import IGNORE_INDEX, tokenize_messages, tokenize_text
from climb.state import StateDir, atomic_dir, write_json_atomic

log = logging.getLogger(__name__)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "tokenizer.model",
)
LENGTH_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)


@dataclass
class DataReport:
    """What the stage read, kept and skipped."""

    rows_read: int = 0
    examples: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    length_histogram: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedData:
    """The stage's result: where the tokenised dataset is, its digest and its report."""

    path: str
    digest: str
    key: str
    cached: bool
    report: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def tokenizer_digest(model_path: str | Path) -> str:
    """Return a sha256 over the tokenizer / chat-template files of a model folder."""
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        p = Path(model_path) / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def preparation_key(cfg: DataConfig, model_path: str | Path) -> str:
    """Return the cache key of a preparation: sources' bytes, data config, tokenizer."""
    payload = {
        "config": cfg.model_dump(mode="json"),
        "sources": [file_digest(resolve_source(s.path)) for s in cfg.sources],
        "tokenizer": tokenizer_digest(model_path),
        "format_version": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _bucket(n: int) -> str:
    for b in LENGTH_BUCKETS:
        if n <= b:
            return f"<={b}"
    return f">{LENGTH_BUCKETS[-1]}"


def _repeats(weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


def _tokenised_rows(cfg: DataConfig, tokenizer: Any, report: DataReport) -> list[dict[str, Any]]:
    rng = random.Random(cfg.seed)
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for src in cfg.sources:
        path = resolve_source(src.path)
        for raw in iter_rows(path):
            report.rows_read += 1
            item = raw if isinstance(raw, BadRow) else normalise(raw, src.format, src.columns)
            if not isinstance(item, BadRow):
                item = (
                    tokenize_text(tokenizer, item, cfg.max_length)
                    if isinstance(item, str)
                    else tokenize_messages(
                        tokenizer, item, cfg.max_length, cfg.completion_only_loss
                    )
                )
            if isinstance(item, BadRow):
                skipped[item.reason] += 1
                continue
            rows.extend([item] * _repeats(src.weight, rng))
            if cfg.max_examples and len(rows) >= cfg.max_examples:
                break
    report.skipped = dict(sorted(skipped.items()))
    return rows[: cfg.max_examples] if cfg.max_examples else rows


def prepare_data(cfg: DataConfig, model_path: str | Path, state: StateDir) -> PreparedData:
    """Prepare the training data for `model_path`'s tokenizer; reuse an identical earlier run.

    Returns the dataset folder (train.parquet, optional eval.parquet, manifest.json), its content
    digest and the report. Raises SourceError when a source cannot be read, ValueError when no
    usable row is left.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    start = time.perf_counter()
    key = preparation_key(cfg, model_path)
    target = state.datasets / key[:16]
    manifest_path = target / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        log.info("data: reusing prepared dataset %s", target)
        return PreparedData(
            str(target),
            manifest["digest"],
            key,
            True,
            manifest["report"],
            time.perf_counter() - start,
        )

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    report = DataReport()
    rows = _tokenised_rows(cfg, tokenizer, report)
    if not rows:
        raise ValueError(
            f"data: no usable rows left from {[s.path for s in cfg.sources]}; "
            f"skipped by reason: {report.skipped}"
        )
    random.Random(cfg.seed).shuffle(rows)
    n_eval = int(len(rows) * cfg.eval_fraction)
    splits = {"train": rows[n_eval:], "eval": rows[:n_eval]} if n_eval else {"train": rows}
    hist: Counter[str] = Counter()
    content = hashlib.sha256()
    for r in rows:
        hist[_bucket(len(r["input_ids"]))] += 1
        content.update(json.dumps(r, separators=(",", ":")).encode())
    report.examples = len(rows)
    report.tokens = sum(len(r["input_ids"]) for r in rows)
    report.trainable_tokens = sum(sum(t != IGNORE_INDEX for t in r["labels"]) for r in rows)
    report.length_histogram = {b: hist[b] for b in map(_bucket, LENGTH_BUCKETS) if hist[b]}
    digest = content.hexdigest()
    with atomic_dir(target) as tmp:
        for split, split_rows in splits.items():
            table = pa.table(
                {
                    "input_ids": [r["input_ids"] for r in split_rows],
                    "labels": [r["labels"] for r in split_rows],
                }
            )
            pq.write_table(table, tmp / f"{split}.parquet")
        write_json_atomic(
            tmp / "manifest.json",
            {
                "digest": digest,
                "key": key,
                "report": asdict(report),
                "splits": {k: len(v) for k, v in splits.items()},
                "sources": [s.model_dump(mode="json") for s in cfg.sources],
                "tokenizer": str(model_path),
            },
        )
    log.info(
        "data: %d examples, %d tokens, skipped %s", report.examples, report.tokens, report.skipped
    )
    return PreparedData(
        str(target), digest, key, False, asdict(report), time.perf_counter() - start
    )
