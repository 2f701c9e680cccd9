"""Writing a decontamination index from benchmark items: every segment of every item split into
units (`climb.data.textnorm.match_text`), its n-grams (or the whole segment, when shorter) hashed
with the rule of its script (`climb.data.matchrules`), n-grams that more than
`boilerplate_items` items share left out, and the short question/answer pairs
(`climb.data.shortqa`). `climb.data.decontam.build_index` feeds it a suite's items; a test can
feed it items of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from climb.config import DecontaminationConfig
from climb.data.benchmark_items import BenchmarkItem
from climb.data.matchrules import Rules
from climb.data.ngrams import WordHasher, bitmap_bits, build_bitmap, segment_grams
from climb.data.shortqa import PairBuilder
from climb.data.textnorm import is_hangul, match_text, words

FLUSH_SEGMENTS = 20_000


def write_index(
    items: Iterable[BenchmarkItem],
    cfg: DecontaminationConfig,
    out: Path,
    units: str,
    meta: dict[str, Any],
) -> None:
    """Write the index of `items` into the folder `out`: hashes.npy (sorted n-gram hashes),
    items.npy (item id of each hash), bitmap.npy, pairs.npz and meta.json (`meta` plus the rule,
    the items for reports and the counts). `units`: a `climb.data.textnorm.UNITS` name;
    `words` applies the word rule to every segment (the rule before Hangul units)."""
    import numpy as np

    start = time.perf_counter()
    hasher = WordHasher()
    rules = Rules.of(cfg.ngram, cfg.min_words, cfg.hangul_syllables_per_word)
    if units == "words":
        rules = Rules(rules.words, rules.words)
    pairs = PairBuilder(cfg.min_words, cfg.boilerplate_items, hasher, rules, units)
    hashes: list[Any] = []
    ids: list[Any] = []
    listed: list[list[Any]] = []
    lengths: set[int] = set()
    batches: dict[bool, tuple[list[list[str]], list[int]]] = {False: ([], []), True: ([], [])}

    def flush() -> None:
        for hangul, (batch, batch_item) in batches.items():
            rule = rules.pick(hangul)
            h, seg, used = segment_grams(batch, rule.ngram, rule.min_len, hasher)
            hashes.append(h)
            ids.append(np.asarray(batch_item, dtype=np.int32)[seg])
            lengths.update(used)
            batch.clear()
            batch_item.clear()

    for item in items:
        for segment in item.segments:
            unit_list = words(match_text(segment, units))
            batch, batch_item = batches[is_hangul(unit_list)]
            batch.append(unit_list)
            batch_item.append(len(listed))
        pairs.add(len(listed), item.questions, item.answers)
        listed.append([item.benchmark, item.task, item.doc, item.text[:120]])
        if len(batches[False][0]) + len(batches[True][0]) >= FLUSH_SEGMENTS:
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
                **meta,
                "ngram": cfg.ngram,
                "hangul_ngram": rules.hangul.ngram,
                "units": units,
                "lengths": sorted(lengths),
                "items": listed,
                "ngrams": len(all_h),
                "boilerplate_ngrams": int((counts > cfg.boilerplate_items).sum()),
                "bitmap_bits": bits,
                **pair_meta,
                "build_seconds": time.perf_counter() - start,
            }
        )
    )
