"""The per-row work of the data stage, as one iterator of (split, tokenised example).

Each row of the mixed sources goes, in order of cost: decode -> normalise (format, columns) ->
duplicate-field and language filters -> exact / near dedup -> decontamination -> chat template
and tokenisation -> token-length filters. Every dropped row is counted by reason (overall and per
source). A kept example is assigned to the eval split by a hash of its text (stable, streaming)
and repeated in train according to its source's weight.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from climb.config import DataConfig, EvalConfig
from climb.data.dedup import Deduplicator
from climb.data.formats import normalise
from climb.data.pack import IGNORE_INDEX, bucket
from climb.data.quality import LanguageFilter, duplicate_fields, example_text, length_filter
from climb.data.report import Contamination, ReportBuilder
from climb.data.sources import BadRow
from climb.data.stream import interleave, stream_source
from climb.data.templates import resolve_template
from climb.data.tokenize import tokenize_messages, tokenize_text
from climb.state import StateDir

Example = dict[str, list[int]]


def _repeats(weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


def _numbered(rows: Iterator[Any]) -> Iterator[tuple[int, Any]]:
    return enumerate(rows, 1)


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
        """Set up filters, dedup and (when enabled) the decontamination index for `cfg`."""
        self.cfg, self.tokenizer, self.report = cfg, tokenizer, report
        self.template = resolve_template(cfg.chat_template)
        self.dedup = Deduplicator(cfg.dedup, seed=cfg.seed)
        self.language = (
            LanguageFilter(cfg.filters.languages, cfg.filters.language_min_confidence)
            if cfg.filters.languages
            else None
        )
        self.index: Any = None
        self.contamination = Contamination(cfg.decontamination.max_reported)
        if cfg.decontamination.enabled:
            from climb.data.decontam import load_index

            self.index = load_index(cfg.decontamination, eval_cfg, state)
        self.hist: Counter[str] = Counter()
        self.rng = random.Random(cfg.seed)
        for src in cfg.sources:
            report.sources.setdefault(src.path, {"rows": 0, "kept": 0})

    def _example(self, src_i: int, row_no: int, row: Any) -> tuple[Example, str] | str:
        """Return (tokenised example, its text) or the reason the row is dropped."""
        cfg, src = self.cfg, self.cfg.sources[src_i]
        if isinstance(row, BadRow):
            return row.reason
        item = normalise(row, src.format, src.columns)
        if isinstance(item, BadRow):
            return item.reason
        if cfg.filters.drop_duplicate_fields and (
            bad := duplicate_fields(row, src.format, src.columns, item)
        ):
            return bad.reason
        if self.language and (bad := self.language(item)):
            return bad.reason
        text = example_text(item)
        reason, ticket = self.dedup.check(text)
        if reason:
            return reason
        if self.index is not None:
            start = time.perf_counter()
            hits = self.index.match(text)
            self.contamination.seconds += time.perf_counter() - start
            if hits:
                self.contamination.add(src.path, row_no, text, hits, self.index.items)
                if cfg.decontamination.action != "report":
                    return "contaminated"
        tok = (
            tokenize_text(self.tokenizer, item, cfg.max_length)
            if isinstance(item, str)
            else tokenize_messages(
                self.tokenizer, item, cfg.max_length, cfg.completion_only_loss, self.template
            )
        )
        if isinstance(tok, BadRow):
            return tok.reason
        if bad := length_filter(len(tok["input_ids"]), cfg.filters, cfg.max_length):
            return bad.reason
        self.dedup.add(ticket)
        return tok, text

    def __iter__(self) -> Iterator[tuple[str, Example]]:
        cfg, report = self.cfg, self.report
        streams = [_numbered(stream_source(s)) for s in cfg.sources]
        emitted = 0
        threshold = int(cfg.eval_fraction * 10_000)
        weights = [s.weight for s in cfg.sources]
        for src_i, (row_no, row) in interleave(streams, weights, self.rng):
            name = cfg.sources[src_i].path
            report.rows_read += 1
            report.sources[name]["rows"] += 1
            out = self._example(src_i, row_no, row)
            if isinstance(out, str):
                report.drop(name, out)
                continue
            ex, text = out
            report.sources[name]["kept"] += 1
            digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
            is_eval = int.from_bytes(digest, "little") % 10_000 < threshold
            copies = 1 if is_eval else _repeats(cfg.sources[src_i].weight, self.rng)
            for _ in range(copies):
                if cfg.max_examples and emitted >= cfg.max_examples:
                    return
                emitted += 1
                self._count(ex, is_eval)
                yield ("eval" if is_eval else "train"), ex

    def _count(self, ex: Example, is_eval: bool) -> None:
        r = self.report
        r.examples += 1
        r.eval_examples += is_eval
        r.train_examples += not is_eval
        r.tokens += len(ex["input_ids"])
        r.trainable_tokens += sum(t != IGNORE_INDEX for t in ex["labels"])
        self.hist[bucket(len(ex["input_ids"]))] += 1

    def finish(self) -> None:
        """Fill the report's histogram, dedup and decontamination sections."""
        r, cfg = self.report, self.cfg
        order = [bucket(n) for n in (64, 128, 256, 512, 1024, 2048, 4096, 8192, 8193)]
        r.length_histogram = {b: self.hist[b] for b in order if self.hist[b]}
        r.skipped = dict(sorted(r.skipped.items()))
        r.dedup = {
            **cfg.dedup.model_dump(),
            **self.dedup.stats(),
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
            "index": {
                "items": len(self.index.items),
                "ngrams": self.index.meta["ngrams"],
                "cached": self.index.cached,
                "load_seconds": round(self.index.seconds, 3),
                "build_seconds": round(self.index.meta["build_seconds"], 3),
            },
            **summary,
        }
