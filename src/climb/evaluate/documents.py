"""Per-document results: for every document lm-eval scored, its id, its content hash and the
value(s) of the suite's metric, read from lm-eval's per-sample logs. Two models measured the same
way are compared document by document on these (paired), not only on their averages.
"""

from __future__ import annotations

from typing import Any

from climb.evaluate.scoring import ScoringError
from climb.evaluate.suites import Suite
from climb.records import DocResult


def _value(raw: Any, where: str) -> float | list[float | int | str]:
    if isinstance(raw, bool | int | float):
        return float(raw)
    if isinstance(raw, list | tuple):
        return [v if isinstance(v, int | float | str) else str(v) for v in raw]
    raise ScoringError(f"{where} is {raw!r}: not a number or a per-document item")


def leaf_documents(
    samples: list[dict[str, Any]], metrics: list[str], filt: str, leaf: str
) -> list[DocResult]:
    """Return the DocResults of one lm-eval leaf task from its logged samples (the rows of filter
    `filt`), sorted by document id; raise ScoringError when a metric is missing from a row."""
    docs = []
    for row in samples:
        if row.get("filter", "none") != filt:
            continue
        values = {}
        for m in metrics:
            if m not in row:
                raise ScoringError(f"task {leaf}: document {row.get('doc_id')} has no {m} value")
            values[m] = _value(row[m], f"task {leaf}: {m} of document {row.get('doc_id')}")
        docs.append(
            DocResult(doc_id=int(row["doc_id"]), doc_hash=str(row["doc_hash"]), values=values)
        )
    return sorted(docs, key=lambda d: d.doc_id)


def suite_documents(
    suite: Suite, leaves: dict[str, list[str]], samples: dict[str, list[dict[str, Any]]]
) -> dict[str, list[DocResult]]:
    """Return the scored documents of every leaf task of the suite's planned tasks (`leaves`:
    suite task -> its lm-eval leaf tasks) from lm-eval's `samples` output."""
    out: dict[str, list[DocResult]] = {}
    for st in suite.tasks:
        for leaf in leaves.get(st.name, []):
            rows = samples.get(leaf)
            if not rows:
                raise ScoringError(f"lm-eval logged no per-document results for task {leaf}")
            out[leaf] = leaf_documents(rows, st.metrics(), st.filter, leaf)
    return out
