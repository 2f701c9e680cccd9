"""Growing an evaluation: a model scored on the first k documents of each task is scored on
documents k..N-1 only, and the two parts are merged into the result a single run over the first
N documents gives.

What makes the parts fit: lm-eval draws each document's random few-shot examples from one
generator per task, seeded once, one draw per document in order; a run over documents k..N-1
alone would give document k the shots of document 0. `ContiguousSampler` replays the draws of
the documents that are not evaluated now, so every document gets the shots it gets in a
contiguous run. (lm-eval redraws when the few-shot pool holds the evaluated document twice; that
extra draw is not replayed: a pool with duplicate rows can differ from a contiguous run.)
Documents are selected with lm-eval's own `samples` argument.

Scores of the merged result are recomputed from its documents the way lm-eval aggregates them
(mean and its sample standard error; corpus F1 with a bootstrap standard error).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from lm_eval.api.samplers import ContextSampler

from climb.evaluate.aggregate import metric_rows
from climb.evaluate.scoring import score_task
from climb.evaluate.suites import Suite
from climb.records import DocResult, TaskScore


class ContiguousSampler(ContextSampler):
    """lm-eval's random few-shot sampler, for a run over selected documents (in increasing
    order) that must draw what a run over all documents from 0 draws for each of them."""

    def __init__(self, base: ContextSampler, indices: list[int], with_eval_doc: bool) -> None:
        """Wrap `base` (its pool) for a run over document `indices`; `with_eval_doc`: the task
        samples n + 1 and drops the evaluated document (few-shot split = test split)."""
        super().__init__(base.df, rnd=None, fewshot_indices=base.fewshot_indices)
        self.indices = list(indices)
        self.with_eval_doc = with_eval_doc
        self._call = 0
        self._next = 0

    def set_rnd(self, rnd: int | None) -> ContiguousSampler:
        """Reseed (lm-eval does, before a run) and start again from document 0."""
        super().set_rnd(rnd)
        self._call = 0
        self._next = 0
        return self

    def sample(self, n: int, eval_doc: Any = None, df: Any = None, **kwargs: Any) -> Any:
        """The shots of the next selected document, after replaying the draws of the documents
        before it that this run skips."""
        target = self.indices[self._call] if self._call < len(self.indices) else self._next
        self._call += 1
        pool = self.fewshot_docs()
        while self._next < target:
            self.rnd.sample(pool, n + 1 if self.with_eval_doc else n)
            self._next += 1
        self._next += 1
        return super().sample(n, eval_doc=eval_doc, df=df, **kwargs)


def select_more(
    tasks: dict[str, Any], have: dict[str, list[DocResult]], limit: int | None
) -> dict[str, list[int]]:
    """For lm-eval Task objects by leaf name, the document indices still to score: from the
    number already scored (`have`, which must be documents 0..k-1) to `limit` (None: all).
    Installs a ContiguousSampler on tasks with random few-shot examples. Leaves with nothing
    left to score are omitted."""
    more = {}
    for leaf, task in tasks.items():
        done = [d.doc_id for d in have.get(leaf, [])]
        if done != list(range(len(done))):
            raise ValueError(f"task {leaf}: earlier documents are not 0..{len(done) - 1}")
        total = len(task.eval_docs)
        indices = list(range(len(done), total if limit is None else min(limit, total)))
        if not indices:
            continue
        more[leaf] = indices
        sampler = getattr(task, "sampler", None)
        if type(sampler) is ContextSampler and (task.get_config("num_fewshot") or 0) > 0:
            same_split = task.fewshot_cfg.split == task.config.test_split
            task.sampler = ContiguousSampler(sampler, indices, same_split)
    return more


def merge(old: list[DocResult], new: list[DocResult]) -> list[DocResult]:
    """Documents of both parts in id order; an id scored twice is an error."""
    ids = {d.doc_id for d in old}
    clash = [d.doc_id for d in new if d.doc_id in ids]
    if clash:
        raise ValueError(f"documents {clash[:5]} were scored twice")
    return sorted([*old, *new], key=lambda d: d.doc_id)


def _leaf_stats(metric: str, docs: list[DocResult], leaf: str) -> tuple[float, float | None]:
    """(value, stderr) of one metric over a leaf's documents, as lm-eval aggregates it."""
    values = [d.values[metric] for d in docs]
    if all(isinstance(v, float) for v in values):
        x = np.array(values, dtype=np.float64)
        se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None
        return float(x.mean()), se
    ones = np.ones((1, len(docs)))
    point = float(metric_rows(metric, docs, ones, leaf)[0])
    rng = np.random.default_rng(1234)
    n = len(docs)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=1000).astype(np.float64)
    return point, float(np.std(metric_rows(metric, docs, w, leaf), ddof=1))


def rescore(
    suite: Suite, leaves: dict[str, list[str]], documents: dict[str, list[DocResult]]
) -> tuple[dict[str, TaskScore], float]:
    """(per-task scores, suite average) of merged per-document results, through the same
    scoring as lm-eval's output (climb.evaluate.scoring)."""
    results: dict[str, dict[str, float | None]] = {}
    n_samples: dict[str, dict[str, int]] = {}
    for st in suite.tasks:
        for leaf in leaves.get(st.name, []):
            row: dict[str, float | None] = {}
            for m in st.metrics():
                value, se = _leaf_stats(m, documents[leaf], leaf)
                row[f"{m},{st.filter}"] = value
                row[f"{m}_stderr,{st.filter}"] = se
            results[leaf] = row
            n_samples[leaf] = {"effective": len(documents[leaf])}
    tasks = {
        st.name: score_task(st, leaves[st.name], results, n_samples)
        for st in suite.tasks
        if st.name in leaves
    }
    return tasks, suite.scale * sum(t.score for t in tasks.values()) / len(tasks)
