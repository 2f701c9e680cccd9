"""The data stage's report: what was read, kept and dropped (per reason and per source), dedup
and decontamination results, token statistics; and its text rendering for `climb data prepare`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataReport:
    """What the stage read, kept and dropped. `skipped` counts every dropped row by reason."""

    rows_read: int = 0
    examples: int = 0
    train_examples: int = 0
    eval_examples: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    length_histogram: dict[str, int] = field(default_factory=dict)
    packing: dict[str, Any] = field(default_factory=dict)
    dedup: dict[str, Any] = field(default_factory=dict)
    decontamination: dict[str, Any] = field(default_factory=dict)
    processing: dict[str, Any] = field(default_factory=dict)

    def drop(self, source: str, reason: str) -> None:
        """Count one dropped row of `source` under `reason`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        per = self.sources[source].setdefault("skipped", {})
        per[reason] = per.get(reason, 0) + 1


class Contamination:
    """Collects decontamination hits for the report."""

    def __init__(self, max_reported: int) -> None:
        """Keep at most `max_reported` example hits in full."""
        self.max_reported = max_reported
        self.examples = 0
        self.per_benchmark: Counter[str] = Counter()
        self.items: dict[str, set[int]] = {}
        self.shown: list[dict[str, Any]] = []
        self.seconds = 0.0

    def add(
        self, source: str, row: int, text: str, hits: list[tuple[int, str]], items: list[list[Any]]
    ) -> None:
        """Record one contaminated training example and the benchmark items it overlaps."""
        self.examples += 1
        benches = sorted({items[i][0] for i, _ in hits})
        for b in benches:
            self.per_benchmark[b] += 1
        for i, _ in hits:
            self.items.setdefault(items[i][0], set()).add(i)
        if len(self.shown) < self.max_reported:
            item_id, gram = hits[0]
            bench, task, doc, query = items[item_id]
            self.shown.append(
                {
                    "source": source,
                    "row": row,
                    "benchmark": bench,
                    "task": task,
                    "doc": doc,
                    "benchmark_text": query,
                    "ngram": gram,
                    "example": text[:200],
                    "benchmarks": benches,
                }
            )

    def summary(self) -> dict[str, Any]:
        """Return counts per benchmark (examples and distinct benchmark items) and examples."""
        return {
            "contaminated_examples": self.examples,
            "per_benchmark": {
                b: {"examples": n, "items": len(self.items[b])}
                for b, n in sorted(self.per_benchmark.items())
            },
            "examples": self.shown,
            "scan_seconds": round(self.seconds, 3),
        }


def format_report(data: dict[str, Any]) -> str:
    """Return a person-readable summary of a PreparedData dict (report, digest, location)."""
    r = data["report"]
    lines = [
        f"dataset  {data['path']}" + (f"  ({data['uri']})" if data.get("uri") else ""),
        f"digest   {data['digest']}  ({'cached' if data['cached'] else 'prepared'} in "
        f"{data['seconds']:.1f}s)",
        f"rows     read {r['rows_read']}, kept {r['examples']} (train "
        f"{r['train_examples']}, eval {r['eval_examples']}), tokens {r['tokens']} "
        f"(trainable {r['trainable_tokens']})",
    ]
    for name, s in r["sources"].items():
        lines.append(
            f"source   {name}: read {s['rows']}, kept {s['kept']}, dropped {s.get('skipped', {})}"
        )
    lines.append(
        "dropped  " + (", ".join(f"{k} {v}" for k, v in sorted(r["skipped"].items())) or "nothing")
    )
    p = r.get("packing", {})
    if p:
        lines.append(
            f"rows out {p.get('mode')}: {p.get('rows')} rows of <= {p.get('length')} "
            f"tokens, padding ratio {p.get('padding_ratio')}"
        )
    lines.append("lengths  " + ", ".join(f"{k}: {v}" for k, v in r["length_histogram"].items()))
    d = r.get("decontamination", {})
    if not d.get("enabled"):
        lines.append(f"decontam NOT CHECKED ({d.get('reason', 'disabled')}): not promotable")
    else:
        lines.append(
            f"decontam {d['ngram']}-grams vs {d['suite']} ({d['benchmarks']}), "
            f"{d['index']['items']} items / {d['index']['ngrams']} n-grams: "
            f"{d['contaminated_examples']} contaminated, action {d['action']}, "
            f"clean={d['clean']}"
        )
        for b, v in d["per_benchmark"].items():
            lines.append(f"         {b}: {v['examples']} examples, {v['items']} items")
        for e in d["examples"][:5]:
            lines.append(
                f"         e.g. {e['source']}#{e['row']} ~ {e['task']}[{e['doc']}]: {e['ngram']!r}"
            )
    return "\n".join(lines)
