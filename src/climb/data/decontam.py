"""Decontamination: word n-gram overlap (13 by default, as GPT-3 and lm-eval) between training
examples and every item of the evaluation suite, compared on the benchmark documents' own
content (question, choices, gold answer; see `climb.data.benchmark_items`), not on the prompt
template the harness wraps around them.

Texts are normalised by `climb.data.textnorm` (NFKC, lower case, punctuation removed, split on
whitespace). Each benchmark item contributes the n-grams of its segments; a segment shorter than
n words but at least `min_words` long is matched whole (an 11-word ARC question is found even
though no 13-gram of it exists). N-grams are 64-bit rolling hashes over per-word hashes, so the
index of the v1 suite is a few numpy arrays (sorted hashes, item ids, and a bitmap of the hashes
that rules out most non-matching n-grams without a search), built once per (suite, task
definitions, benchmark data, rule) and memory-mapped from `<state>/decontamination/` by every
worker process. `match_words` checks a whole batch of training texts with a few vector
operations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from climb.config import DecontaminationConfig, EvalConfig
from climb.data.ngrams import (
    WordHasher,
    bitmap_bits,
    bitmap_has,
    build_bitmap,
    segment_grams,
    window_hashes,
)
from climb.data.shortqa import PairBuilder, PairIndex
from climb.data.textnorm import normalise_text, words
from climb.resources import config_dir
from climb.state import StateDir, atomic_dir

log = logging.getLogger(__name__)
INDEX_VERSION = 5


@dataclass(frozen=True)
class Target:
    """Which benchmarks to check against, resolved from the data and eval configs."""

    suite: str
    data_dir: Path | None  # None = the Hub
    source: str  # label: smoke | hub | mirror:PATH


def resolve_target(cfg: DecontaminationConfig, eval_cfg: EvalConfig) -> Target:
    """Return the suite and benchmark data to check against (defaults: what eval uses)."""
    from climb.evaluate.runner import data_source

    data_dir = cfg.benchmarks if cfg.benchmarks is not None else eval_cfg.data_dir
    folder, source = data_source(eval_cfg.model_copy(update={"data_dir": data_dir}))
    return Target(cfg.suite or eval_cfg.suite, folder, source)


def index_key(target: Target, cfg: DecontaminationConfig) -> str:
    """Return the cache key of an index: suite, task definitions, benchmark data, n-gram rule."""
    from climb.evaluate.runner import data_identity
    from climb.evaluate.suites import load_suite

    h = hashlib.sha256()
    tasks = config_dir() / "tasks"
    for p in sorted(q for q in tasks.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        h.update(str(p.relative_to(tasks)).encode() + b"\0" + p.read_bytes())
    payload = {
        "suite": load_suite(target.suite).model_dump(mode="json"),
        "data": data_identity(target.data_dir),
        "tasks": h.hexdigest(),
        "ngram": cfg.ngram,
        "min_words": cfg.min_words,
        "boilerplate_items": cfg.boilerplate_items,
        "version": INDEX_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def build_index(target: Target, cfg: DecontaminationConfig, out: Path) -> None:
    """Write the n-gram index of every benchmark item of `target` into the folder `out`:
    hashes.npy (sorted), items.npy (item id of each hash), bitmap.npy, meta.json."""
    import numpy as np

    from climb.data.benchmark_items import iter_items
    from climb.evaluate.suites import load_suite

    start = time.perf_counter()
    hasher = WordHasher()
    pairs = PairBuilder(cfg.min_words, cfg.boilerplate_items, hasher)
    hashes: list[Any] = []
    ids: list[Any] = []
    items: list[list[Any]] = []
    lengths: set[int] = set()
    batch: list[list[str]] = []
    batch_item: list[int] = []

    def flush() -> None:
        h, seg, used = segment_grams(batch, cfg.ngram, cfg.min_words, hasher)
        hashes.append(h)
        ids.append(np.asarray(batch_item, dtype=np.int32)[seg])
        lengths.update(used)
        batch.clear()
        batch_item.clear()

    for item in iter_items(load_suite(target.suite), target.data_dir):
        for segment in item.segments:
            batch.append(words(normalise_text(segment)))
            batch_item.append(len(items))
        pairs.add(len(items), item.questions, item.answers)
        items.append([item.benchmark, item.task, item.doc, item.text[:120]])
        if len(batch) >= 20_000:
            flush()
    flush()
    all_h, all_i = np.concatenate(hashes), np.concatenate(ids)
    order = np.lexsort((all_i, all_h))
    all_h, all_i = all_h[order], all_i[order]
    keep = np.ones(len(all_h), dtype=bool)
    keep[1:] = (all_h[1:] != all_h[:-1]) | (all_i[1:] != all_i[:-1])
    all_h, all_i = all_h[keep], all_i[keep]
    counts = np.unique(all_h, return_counts=True)[1]
    shared = np.repeat(counts > cfg.boilerplate_items, counts)  # all_h is sorted
    all_h, all_i = all_h[~shared], all_i[~shared]
    bits = bitmap_bits(len(all_h))
    np.save(out / "hashes.npy", all_h)
    np.save(out / "items.npy", all_i)
    np.save(out / "bitmap.npy", build_bitmap(all_h, bits))
    pair_meta = pairs.save(out)
    (out / "meta.json").write_text(
        json.dumps(
            {
                "suite": target.suite,
                "source": target.source,
                "ngram": cfg.ngram,
                "lengths": sorted(lengths),
                "items": items,
                "ngrams": len(all_h),
                "boilerplate_ngrams": int((counts > cfg.boilerplate_items).sum()),
                "bitmap_bits": bits,
                **pair_meta,
                "build_seconds": time.perf_counter() - start,
            }
        )
    )


class NgramIndex:
    """The arrays of an index (what the workers need): sorted n-gram hashes, their items, the
    bitmap, the n-gram lengths to look for, and the short-question pairs. Memory-mapped, so
    every process shares them."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        """Open the arrays written by `build_index` into `folder`; `meta`: its meta.json (the
        WORKER_META keys are enough)."""
        import numpy as np

        self.folder, self.lengths, self.bits = folder, meta["lengths"], meta["bitmap_bits"]
        # plain arrays over the memory maps (shared pages, no np.memmap overhead per lookup)
        self.hashes = np.asarray(np.load(folder / "hashes.npy", mmap_mode="r"))
        self.item_ids = np.asarray(np.load(folder / "items.npy", mmap_mode="r"))
        self.bitmap = np.asarray(np.load(folder / "bitmap.npy", mmap_mode="r"))
        self.pairs = PairIndex(folder, meta)
        self.all_lengths = sorted({*self.lengths, *self.pairs.q_lengths})
        self.hasher = WordHasher()

    def worker_meta(self) -> dict[str, Any]:
        """Return what a worker process needs to open this index (with the folder)."""
        return {
            "lengths": self.lengths,
            "bitmap_bits": self.bits,
            "pair_bits": self.pairs.bits,
            "pair_q_lengths": self.pairs.q_lengths,
            "pair_a_lengths": self.pairs.a_lengths,
        }

    def match_words(self, rows: list[list[str]]) -> dict[int, list[tuple[int, str]]]:
        """`match_norms` for rows given as lists of normalised words."""
        return self.match_norms([" ".join(r) for r in rows])

    def match_norms(
        self, norms: list[str], word_hashes: Any = None, sizes: Any = None
    ) -> dict[int, list[tuple[int, str]]]:
        """Return {row: [(item id, matched text)]} for the normalised texts that overlap a
        benchmark item: one entry per item, the first match found (n-grams, shortest length
        first, then leftmost; then short questions with their answers), items in id order.
        `word_hashes`, `sizes`: the texts' `WordHasher.of_texts` (computed when not given)."""
        import numpy as np

        if word_hashes is None:
            word_hashes, sizes = self.hasher.of_texts(norms)
        if not len(word_hashes) or not self.all_lengths:
            return {}
        row_of = np.repeat(np.arange(len(norms)), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        windows = window_hashes(word_hashes, self.all_lengths)
        found: dict[int, dict[int, str]] = {}
        for n in self.lengths if len(self.hashes) else []:
            q = windows[n]
            if not len(q):
                continue
            pos = np.nonzero(row_of[: len(q)] == row_of[n - 1 : n - 1 + len(q)])[0]
            pos = pos[bitmap_has(self.bitmap, self.bits, q[pos])]
            left = np.searchsorted(self.hashes, q[pos], side="left")
            right = np.searchsorted(self.hashes, q[pos], side="right")
            for k in np.nonzero(right > left)[0]:
                p = int(pos[k])
                row = int(row_of[p])
                at = p - int(starts[row])
                hits = found.setdefault(row, {})
                for item in self.item_ids[left[k] : right[k]]:
                    hits.setdefault(int(item), " ".join(words(norms[row])[at : at + n]))
        pairs = self.pairs.match(norms, word_hashes, windows, row_of, starts)
        for row, by_item in pairs.items():
            hits = found.setdefault(row, {})
            for item, gram in by_item.items():
                hits.setdefault(item, gram)
        return {row: sorted(hits.items()) for row, hits in sorted(found.items())}


class ContaminationIndex(NgramIndex):
    """A loaded index with its metadata (the items, for reports); `match` checks one text."""

    def __init__(self, folder: Path, cached: bool, seconds: float) -> None:
        """Load (memory-map) the index written by `build_index` into `folder`."""
        self.meta = json.loads((folder / "meta.json").read_text())
        super().__init__(folder, self.meta)
        self.items: list[list[Any]] = self.meta["items"]
        self.cached, self.seconds = cached, seconds

    def match(self, text: str) -> list[tuple[int, str]]:
        """Return [(item id, matched n-gram text)] for every benchmark item `text` overlaps,
        one entry per item (the first n-gram found)."""
        return self.match_norms([normalise_text(text)]).get(0, [])


def load_index(
    cfg: DecontaminationConfig, eval_cfg: EvalConfig, state: StateDir
) -> ContaminationIndex:
    """Return the index for the configured suite and benchmarks, building it once if needed."""
    start = time.perf_counter()
    target = resolve_target(cfg, eval_cfg)
    key = index_key(target, cfg)
    folder = state.root / "decontamination" / key[:16]
    cached = (folder / "meta.json").is_file()
    if not cached:
        log.info(
            "data: building the %d-gram index of suite %s (%s), once",
            cfg.ngram,
            target.suite,
            target.source,
        )
        with atomic_dir(folder) as tmp:
            build_index(target, cfg, tmp)
    return ContaminationIndex(folder, cached, time.perf_counter() - start)
