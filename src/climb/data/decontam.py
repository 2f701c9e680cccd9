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
from climb.data.textnorm import normalise_text, words
from climb.resources import config_dir
from climb.state import StateDir, atomic_dir

log = logging.getLogger(__name__)
INDEX_VERSION = 3
BITMAP_MIN_BITS = 20  # the bitmap has >= 32 bits per indexed n-gram, at least 2**20
_P = 0x9E3779B97F4A7C15  # odd multiplier of the rolling hash
_K = 0xC2B2AE3D27D4EB4F  # mixes the n-gram length into its hash


class WordHasher:
    """Stable 64-bit hashes of words (blake2b), remembered for the words seen most recently."""

    def __init__(self, max_words: int = 1 << 20) -> None:
        """Remember at most `max_words` words (the memory is then reset)."""
        self.cache: dict[str, int] = {}
        self.max_words = max_words

    def _new(self, word: str) -> int:
        if len(self.cache) >= self.max_words:
            self.cache.clear()
        h = self.cache[word] = int.from_bytes(
            hashlib.blake2b(word.encode(), digest_size=8).digest(), "little"
        )
        return h

    def __call__(self, words: list[str]) -> Any:
        """Return the uint64 array of the hashes of `words`."""
        import numpy as np

        get = self.cache.get
        return np.array([get(w) or self._new(w) for w in words], dtype=np.uint64)


def window_hashes(wh: Any, lengths: list[int]) -> dict[int, Any]:
    """Return {L: uint64 hashes of every L-word window} of the word hashes `wh`, for each L in
    `lengths` (an empty array when there are fewer than L words). Polynomial rolling hash modulo
    2**64, extended one word at a time, so all lengths cost max(lengths) vector operations.
    """
    import numpy as np

    out: dict[int, Any] = {}
    p = np.uint64(_P)
    h = wh.copy()
    for k in range(1, max(lengths) + 1):
        if k > 1:
            h = h[: len(wh) - k + 1] * p + wh[k - 1 :]
        if k in lengths:
            out[k] = h ^ np.uint64((k * _K) & 0xFFFFFFFFFFFFFFFF)
    return {k: out.get(k, np.empty(0, dtype=np.uint64)) for k in lengths}


def segment_grams(
    segments: list[list[str]], n: int, min_words: int, hasher: WordHasher
) -> tuple[Any, Any, set[int]]:
    """Return (hashes, segment index of each hash, lengths used) for a batch of word lists:
    every n-word window inside a segment, and the whole of each segment shorter than n but at
    least `min_words` long."""
    import numpy as np

    sizes = np.array([len(s) for s in segments], dtype=np.int64)
    words = [w for s in segments for w in s]
    if not words:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64), set()
    seg_of = np.repeat(np.arange(len(segments)), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    short = sorted({int(x) for x in sizes if min_words <= x < n})
    windows = window_hashes(hasher(words), sorted({n, *short}))
    full = windows[n]
    valid = np.nonzero(seg_of[: len(full)] == seg_of[n - 1 : n - 1 + len(full)])[0]
    hashes, segs = [full[valid]], [seg_of[valid]]
    for length in short:
        which = np.nonzero(sizes == length)[0]
        hashes.append(windows[length][starts[which]])
        segs.append(which)
    used = ({n} if len(valid) else set()) | set(short)
    return np.concatenate(hashes), np.concatenate(segs), used


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


def bitmap_bits(count: int) -> int:
    """Return log2 of the bitmap size for `count` indexed n-grams (>= 32 bits each)."""
    return max(BITMAP_MIN_BITS, int(count * 32).bit_length())


def build_bitmap(hashes: Any, bits: int) -> Any:
    """Return the uint64 words of a bitmap with bit `h >> (64 - bits)` set for each hash."""
    import numpy as np

    idx = hashes >> np.uint64(64 - bits)
    words_ = np.zeros(1 << max(bits - 6, 0), dtype=np.uint64)
    np.bitwise_or.at(words_, idx >> np.uint64(6), np.uint64(1) << (idx & np.uint64(63)))
    return words_


def build_index(target: Target, cfg: DecontaminationConfig, out: Path) -> None:
    """Write the n-gram index of every benchmark item of `target` into the folder `out`:
    hashes.npy (sorted), items.npy (item id of each hash), bitmap.npy, meta.json."""
    import numpy as np

    from climb.data.benchmark_items import iter_items
    from climb.evaluate.suites import load_suite

    start = time.perf_counter()
    hasher = WordHasher()
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
                "build_seconds": time.perf_counter() - start,
            }
        )
    )


class NgramIndex:
    """The arrays of an index (what the workers need): sorted n-gram hashes, their items, the
    bitmap, and the n-gram lengths to look for. Memory-mapped, so every process shares them."""

    def __init__(self, folder: Path, lengths: list[int], bits: int) -> None:
        """Open the arrays written by `build_index` into `folder`."""
        import numpy as np

        self.folder, self.lengths, self.bits = folder, lengths, bits
        self.hashes = np.load(folder / "hashes.npy", mmap_mode="r")
        self.item_ids = np.load(folder / "items.npy", mmap_mode="r")
        self.bitmap = np.load(folder / "bitmap.npy", mmap_mode="r")
        self.hasher = WordHasher()

    def match_words(
        self, rows: list[list[str]], word_hashes: Any = None
    ) -> dict[int, list[tuple[int, str]]]:
        """Return {row: [(item id, matched n-gram text)]} for the rows (lists of normalised
        words) that overlap a benchmark item: one entry per item, the first n-gram found
        (shortest length first, then leftmost), items in id order. `word_hashes`: the rows'
        words hashed by a WordHasher, concatenated (computed when not given)."""
        import numpy as np

        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        total = int(sizes.sum())
        if not total or not self.lengths or not len(self.hashes):
            return {}
        if word_hashes is None:
            word_hashes = self.hasher([w for r in rows for w in r])
        row_of = np.repeat(np.arange(len(rows)), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        shift, one = np.uint64(64 - self.bits), np.uint64(1)
        found: dict[int, dict[int, str]] = {}
        for n, q in window_hashes(word_hashes, self.lengths).items():
            if not len(q):
                continue
            pos = np.nonzero(row_of[: len(q)] == row_of[n - 1 : n - 1 + len(q)])[0]
            idx = q[pos] >> shift
            maybe = (self.bitmap[idx >> np.uint64(6)] >> (idx & np.uint64(63))) & one
            pos = pos[maybe.astype(bool)]
            if not len(pos):
                continue
            left = np.searchsorted(self.hashes, q[pos], side="left")
            right = np.searchsorted(self.hashes, q[pos], side="right")
            for k in np.nonzero(right > left)[0]:
                p = int(pos[k])
                row = int(row_of[p])
                at = p - int(starts[row])
                hits = found.setdefault(row, {})
                for item in self.item_ids[left[k] : right[k]]:
                    hits.setdefault(int(item), " ".join(rows[row][at : at + n]))
        return {row: sorted(hits.items()) for row, hits in sorted(found.items())}


class ContaminationIndex(NgramIndex):
    """A loaded index with its metadata (the items, for reports); `match` checks one text."""

    def __init__(self, folder: Path, cached: bool, seconds: float) -> None:
        """Load (memory-map) the index written by `build_index` into `folder`."""
        self.meta = json.loads((folder / "meta.json").read_text())
        super().__init__(folder, self.meta["lengths"], self.meta["bitmap_bits"])
        self.items: list[list[Any]] = self.meta["items"]
        self.cached, self.seconds = cached, seconds

    def match(self, text: str) -> list[tuple[int, str]]:
        """Return [(item id, matched n-gram text)] for every benchmark item `text` overlaps,
        one entry per item (the first n-gram found)."""
        return self.match_words([words(normalise_text(text))]).get(0, [])


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
