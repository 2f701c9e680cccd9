"""The per-chunk work of the data stage, done in the worker processes: everything about a row
that does not depend on other rows.

A chunk is a list of (source index, row number, row). For each row, in order of cost: decode
errors, normalise (format, columns), the duplicate-field and language filters; then for the
rows still in: the normalised text, its exact hash and near-dup band hashes, its n-gram overlaps
with the benchmarks, and (unless it overlaps and will be dropped) its tokens and labels for the
whole chunk at once. What needs all rows - dedup against earlier rows, the eval split, weights,
shuffling, writing - happens in the main process (`climb.data.pipeline`), in input order.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climb.config import DataConfig
from climb.data.chat_batch import BatchTokenizer
from climb.data.formats import normalise
from climb.data.minhash import SignatureSpec, band_hashes, exact_hash
from climb.data.quality import LanguageFilter, duplicate_fields, example_text, length_filter
from climb.data.sources import BadRow, RawLine, decode_line
from climb.data.textnorm import normalise_text

Chunk = list[tuple[int, int, Any]]  # (source index, row number, row)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs (picklable): the config, tokenizer, template, the
    decontamination index's folder and `worker_meta`, the dedup signature spec."""

    cfg: DataConfig
    tokenizer: Any
    template: str | None
    index: tuple[str, dict[str, Any]] | None
    signature: SignatureSpec


@dataclass
class ChunkResult:
    """A processed chunk. Per row: `early` / `late` drop reasons (before / after dedup and
    decontamination), `exact` and `bands` signatures, `split_key` (eval split), `lengths`,
    `trainable` tokens; `ids` and `labels` are every kept row's tokens end to end; `hits` maps a
    row to its benchmark overlaps and the start of its text."""

    sources: list[int]
    rows: list[int]
    early: list[str | None]
    late: list[str | None]
    exact: Any
    bands: Any
    split_key: Any
    lengths: Any
    trainable: Any
    ids: Any
    labels: Any
    hits: dict[int, tuple[list[tuple[int, str]], str]] = field(default_factory=dict)
    fallbacks: int = 0
    scan_seconds: float = 0.0


class ChunkWorker:
    """Callable: a chunk -> ChunkResult. Built once per worker process from a WorkerSpec."""

    def __init__(self, spec: WorkerSpec) -> None:
        """Set up the filters, the batch tokenizer and (when enabled) the n-gram index."""
        from climb.data.decontam import NgramIndex, WordHasher

        cfg = spec.cfg
        self.cfg, self.spec = cfg, spec
        self.language = (
            LanguageFilter(cfg.filters.languages, cfg.filters.language_min_confidence)
            if cfg.filters.languages
            else None
        )
        self.tokenize = BatchTokenizer(
            spec.tokenizer, spec.template, cfg.max_length, cfg.completion_only_loss
        )
        self.index = NgramIndex(Path(spec.index[0]), spec.index[1]) if spec.index else None
        self.hasher = WordHasher()
        self.drop_hits = cfg.decontamination.action != "report"

    def _early(self, src_i: int, row: Any) -> tuple[Any, str] | str:
        """Return (normalised item, its text) or the reason the row is dropped."""
        src = self.cfg.sources[src_i]
        if isinstance(row, RawLine):
            row = decode_line(row.data, row.name, row.lineno)
        if isinstance(row, BadRow):
            return row.reason
        item = normalise(row, src.format, src.columns)
        if isinstance(item, BadRow):
            return item.reason
        if self.cfg.filters.drop_duplicate_fields and (
            bad := duplicate_fields(row, src.format, src.columns, item)
        ):
            return bad.reason
        if self.language and (bad := self.language(item)):
            return bad.reason
        return item, example_text(item)

    def __call__(self, chunk: Chunk) -> ChunkResult:
        """Process one chunk (see the module docstring)."""
        import numpy as np

        n = len(chunk)
        early: list[str | None] = [None] * n
        ok, items, texts = [], [], []
        for k, (src_i, _, row) in enumerate(chunk):
            res = self._early(src_i, row)
            if isinstance(res, str):
                early[k] = res
            else:
                ok.append(k)
                items.append(res[0])
                texts.append(res[1])
        out = ChunkResult(
            sources=[c[0] for c in chunk],
            rows=[c[1] for c in chunk],
            early=early,
            late=[None] * n,
            exact=None,
            bands=None,
            split_key=np.zeros(n, dtype=np.uint64),
            lengths=np.zeros(n, dtype=np.int64),
            trainable=np.zeros(n, dtype=np.int64),
            ids=None,
            labels=None,
        )
        out.split_key[ok] = [
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            for t in texts
        ]
        self._signatures(out, ok, texts)
        todo = [j for j, k in enumerate(ok) if not (k in out.hits and self.drop_hits)]
        self._tokens(out, [ok[j] for j in todo], [items[j] for j in todo])
        return out

    def _signatures(self, out: ChunkResult, ok: list[int], texts: list[str]) -> None:
        """Fill the exact and near-dup signatures and the benchmark overlaps of rows `ok`."""
        import numpy as np

        sig, n = self.spec.signature, len(out.early)
        norms = [normalise_text(t) for t in texts]
        need_words = self.index is not None or (sig.near and sig.shingle == "word")
        hashes, sizes = self.hasher.of_texts(norms) if need_words else (None, None)
        if sig.exact:
            out.exact = np.zeros(n, dtype=np.uint64)
            out.exact[ok] = [exact_hash(t) for t in norms]
        if sig.near:
            out.bands = np.zeros((n, sig.bands), dtype=np.uint64)
            if ok:
                out.bands[ok] = band_hashes(norms, sig, hashes, sizes)
        if self.index is not None:
            start = time.perf_counter()
            for j, found in self.index.match_norms(norms, hashes, sizes).items():
                out.hits[ok[j]] = (found, texts[j][:200])
            out.scan_seconds = time.perf_counter() - start

    def _tokens(self, out: ChunkResult, rows: list[int], items: list[Any]) -> None:
        """Tokenise `items` (the chunk's rows `rows`) as one batch; fill tokens and verdicts."""
        import numpy as np

        before = self.tokenize.fallbacks
        flat_ids: list[int] = []
        flat_labels: list[int] = []
        for k, tok in zip(rows, self.tokenize(items), strict=True):
            if isinstance(tok, BadRow):
                out.late[k] = tok.reason
                continue
            ids, labels = tok
            if bad := length_filter(len(ids), self.cfg.filters, self.cfg.max_length):
                out.late[k] = bad.reason
                continue
            out.lengths[k] = len(ids)
            out.trainable[k] = len(labels) - labels.count(-100)
            flat_ids += ids
            flat_labels += labels
        out.ids = np.array(flat_ids, dtype=np.int64)
        out.labels = np.array(flat_labels, dtype=np.int64)
        out.fallbacks = self.tokenize.fallbacks - before


def make_worker(spec: WorkerSpec) -> ChunkWorker:
    """Return the worker for `spec` (the factory handed to `climb.data.parallel.ordered_map`)."""
    return ChunkWorker(spec)
