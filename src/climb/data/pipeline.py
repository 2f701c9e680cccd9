"""The data stage as one iterator of (split, tokenised example), in input order.

The mixed sources are read here and cut into chunks; worker processes do each chunk's per-row
work (`climb.data.worker`: decode, normalise, filters, dedup signatures, benchmark overlaps,
chat template and tokens). Back here, in input order, each row goes through what needs the rows
before it: exact / near dedup against the examples kept so far, then decontamination, then the
tokenisation and length verdicts. Every dropped row is counted by reason (overall and per
source). A kept example is assigned to the eval split by a hash of its text (stable, streaming)
and repeated in train according to its source's weight. Nothing here depends on the number of
processes, so neither does the dataset.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import closing
from itertools import islice
from typing import Any

from climb.config import DataConfig, EvalConfig
from climb.console import progress
from climb.data.dedup import Deduplicator
from climb.data.minhash import SignatureSpec
from climb.data.pack import bucket
from climb.data.parallel import ordered_map, resolve_num_proc
from climb.data.report import Contamination, ReportBuilder
from climb.data.stream import interleave, stream_source
from climb.data.templates import resolve_template
from climb.data.worker import ChunkResult, WorkerSpec, make_worker
from climb.state import StateDir

Example = dict[str, Any]  # column -> 1-D integer array
CHUNK_ROWS = 512


def _repeats(weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


class ExampleStream:
    """Iterate to get (split, example) pairs; call `finish` afterwards to complete the report."""

    def __init__(
        self,
        cfg: DataConfig,
        tokenizer: Any,
        report: ReportBuilder,
        state: StateDir,
        eval_cfg: EvalConfig,
    ) -> None:
        """Set up dedup, the decontamination index (when enabled) and the workers' spec."""
        self.cfg, self.report = cfg, report
        self.num_proc = resolve_num_proc(cfg.num_proc)
        signature = SignatureSpec.from_config(cfg.dedup, cfg.seed)
        self.dedup = Deduplicator(signature)
        self.index: Any = None
        self.contamination = Contamination(cfg.decontamination.max_reported)
        index = None
        if cfg.decontamination.enabled:
            from climb.data.decontam import load_index

            self.index = load_index(cfg.decontamination, eval_cfg, state)
            index = (str(self.index.folder), self.index.worker_meta())
        template = resolve_template(cfg.chat_template)
        self.spec = WorkerSpec(cfg, tokenizer, template, index, signature)
        self.hist: Counter[str] = Counter()
        self.chunks = self.fallbacks = 0
        self.seconds = 0.0
        for src in cfg.sources:
            report.sources.setdefault(src.path, {"rows": 0, "kept": 0})

    def _chunks(self) -> Iterator[list[tuple[int, int, Any]]]:
        """Yield the mixed sources' rows as chunks of (source index, row number, row)."""
        cfg = self.cfg
        streams: list[Iterator[Any]] = [
            enumerate(stream_source(s, raw=True), 1) for s in cfg.sources
        ]
        mixed = (
            (src_i, row_no, row)
            for src_i, (row_no, row) in interleave(
                streams, [s.weight for s in cfg.sources], random.Random(cfg.seed)
            )
        )
        while chunk := list(islice(mixed, CHUNK_ROWS)):
            yield chunk

    def __iter__(self) -> Iterator[tuple[str, Example]]:
        start = time.perf_counter()
        results: Generator[ChunkResult, None, None] = ordered_map(
            make_worker, self.spec, self._chunks(), self.num_proc
        )
        rng = random.Random(self.cfg.seed + 2)
        emitted = [0]
        try:
            with closing(results):
                for res in results:
                    self.chunks += 1
                    self.fallbacks += res.fallbacks
                    self.contamination.seconds += res.scan_seconds
                    yield from self._resolve(res, rng, emitted)
                    read = self.report.rows_read
                    progress(
                        read,
                        None,
                        "rows",
                        kept=self.report.examples,
                        rows_per_s=read / max(time.perf_counter() - start, 1e-9),
                    )
                    if self.cfg.max_examples and emitted[0] >= self.cfg.max_examples:
                        return
        finally:
            self.seconds += time.perf_counter() - start

    def _verdict(self, res: ChunkResult, k: int) -> str | None:
        """Return why row `k` of the chunk is dropped (None: kept), in the order of the checks."""
        if res.early[k]:
            return res.early[k]
        if reason := self.dedup.check(k):
            return reason
        if k in res.hits:
            found, text = res.hits[k]
            name = self.cfg.sources[res.sources[k]].path
            self.contamination.add(name, res.rows[k], text, found, self.index.items)
            if self.cfg.decontamination.action != "report":
                return "contaminated"
        return res.late[k]

    def _resolve(
        self, res: ChunkResult, rng: random.Random, emitted: list[int]
    ) -> Iterator[tuple[str, Example]]:
        """Yield the kept examples of one processed chunk, in order."""
        import numpy as np

        cfg, report = self.cfg, self.report
        threshold = int(cfg.eval_fraction * 10_000)
        ends = np.cumsum(res.lengths)
        self.dedup.start_chunk(len(res.early), res.exact, res.bands)
        for k in range(len(res.early)):
            name = cfg.sources[res.sources[k]].path
            report.rows_read += 1
            report.sources[name]["rows"] += 1
            reason = self._verdict(res, k)
            if reason:
                report.drop(name, reason)
                continue
            self.dedup.add(k)
            report.sources[name]["kept"] += 1
            a, b = int(ends[k] - res.lengths[k]), int(ends[k])
            ex = {"input_ids": res.ids[a:b].copy(), "labels": res.labels[a:b].copy()}
            is_eval = int(res.split_key[k]) % 10_000 < threshold
            copies = 1 if is_eval else _repeats(cfg.sources[res.sources[k]].weight, rng)
            for _ in range(copies):
                if cfg.max_examples and emitted[0] >= cfg.max_examples:
                    break
                emitted[0] += 1
                self._count(b - a, int(res.trainable[k]), is_eval)
                yield ("eval" if is_eval else "train"), ex
            if cfg.max_examples and emitted[0] >= cfg.max_examples:
                break  # the rows after this one are not read, as if the input ended here
        self.dedup.end_chunk()

    def _count(self, n_tokens: int, trainable: int, is_eval: bool) -> None:
        r = self.report
        r.examples += 1
        r.eval_examples += is_eval
        r.train_examples += not is_eval
        r.tokens += n_tokens
        r.trainable_tokens += trainable
        self.hist[bucket(n_tokens)] += 1

    def finish(self) -> None:
        """Fill the report's histogram, dedup, decontamination and processing sections."""
        r, cfg = self.report, self.cfg
        order = [bucket(n) for n in (64, 128, 256, 512, 1024, 2048, 4096, 8192, 8193)]
        r.length_histogram = {b: self.hist[b] for b in order if self.hist[b]}
        r.skipped = dict(sorted(r.skipped.items()))
        r.processing = {
            "num_proc": self.num_proc,
            "chunks": self.chunks,
            "chunk_rows": CHUNK_ROWS,
            "template_fallbacks": self.fallbacks,
            "seconds": round(self.seconds, 3),
        }
        r.dedup = {
            **cfg.dedup.model_dump(),
            **self.dedup.stats(),
            "method": "one-permutation minhash, densified" if cfg.dedup.near else "exact",
            "exact_duplicates": r.skipped.get("exact_duplicate", 0),
            "near_duplicates": r.skipped.get("near_duplicate", 0),
        }
        d = cfg.decontamination
        if self.index is None:
            r.decontamination = {
                "enabled": False,
                "clean": False,
                "reason": "data.decontamination.enabled is false: not checked",
            }
            return
        summary = self.contamination.summary()
        clean = summary["contaminated_examples"] == 0 or d.action == "drop"
        r.decontamination = {
            "enabled": True,
            "suite": self.index.meta["suite"],
            "benchmarks": self.index.meta["source"],
            "ngram": d.ngram,
            "min_words": d.min_words,
            "action": d.action,
            "clean": clean,
            "dropped": r.skipped.get("contaminated", 0),
            "compared": "benchmark documents' content (question, choices, gold answer)",
            "index": {
                "items": len(self.index.items),
                "ngrams": self.index.meta["ngrams"],
                "cached": self.index.cached,
                "load_seconds": round(self.index.seconds, 3),
                "build_seconds": round(self.index.meta["build_seconds"], 3),
            },
            **summary,
        }
