"""A suite's own aggregation, recomputed from per-document results: the leaf metric over its
documents (a mean, or lm-eval's corpus-level F1), the suite task's aggregation over its leaves
(plain mean of normalised subtasks as MMLU and leaderboard v2 do, or the size-weighted mean
normalised once), and the suite average on the suite's scale.

Everything is computed for a matrix of document weights: one row of ones is the point estimate
(equal to what lm-eval reported), one row per bootstrap resample (how often each document was
drawn) is the resampled estimate. The paired bootstrap (climb.registry.significance) and the
escalation merge (scores of a result grown by more documents) both rest on this one code path.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from climb.evaluate.scoring import ScoringError
from climb.evaluate.suites import Suite, SuiteTask
from climb.records import DocResult, EvalResult

Weights = NDArray[np.float64]  # (rows, documents): how often each document counts in a row
CORPUS_METRICS = ("f1",)


def _macro_f1(items: list[list[float | int | str]], w: Weights) -> NDArray[np.float64]:
    """sklearn's f1_score(golds, preds, average="macro") for each row of weights (lm-eval's
    KoBEST aggregation): the mean over classes present in golds or predictions."""
    gold = np.array([str(i[0]) for i in items])
    pred = np.array([str(i[1]) for i in items])
    classes = np.unique(np.concatenate([gold, pred]))
    scores = np.zeros((w.shape[0], len(classes)))
    present = np.zeros((w.shape[0], len(classes)), dtype=bool)
    for j, c in enumerate(classes):
        tp = w @ ((gold == c) & (pred == c))
        fp = w @ ((gold != c) & (pred == c))
        fn = w @ ((gold == c) & (pred != c))
        denom = 2 * tp + fp + fn
        present[:, j] = (w @ ((gold == c) | (pred == c))) > 0
        scores[:, j] = np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=float), where=denom > 0)
    return np.asarray((scores * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1))


def metric_rows(metric: str, docs: list[DocResult], w: Weights, leaf: str) -> NDArray[np.float64]:
    """The leaf's value of `metric` for each row of weights: the weighted mean of per-document
    numbers, or the corpus metric (F1) over the weighted (gold, prediction) items."""
    values = [d.values.get(metric) for d in docs]
    if any(v is None for v in values):
        raise ScoringError(f"task {leaf}: a document has no {metric} value")
    if all(isinstance(v, float) for v in values):
        x = np.array(values, dtype=np.float64)
        return np.asarray((w @ x) / w.sum(axis=1))
    if metric in CORPUS_METRICS and all(isinstance(v, list) and len(v) == 2 for v in values):
        return _macro_f1([v for v in values if isinstance(v, list)], w)
    raise ScoringError(
        f"task {leaf}: metric {metric} has per-document items climb cannot aggregate "
        f"(known corpus metrics: {list(CORPUS_METRICS)})"
    )


def leaf_rows(st: SuiteTask, docs: list[DocResult], w: Weights, leaf: str) -> NDArray[np.float64]:
    """The raw score of one leaf task per row: its metric, or the plain mean of its
    `average_of` metrics."""
    rows = [metric_rows(m, docs, w, leaf) for m in st.metrics()]
    return np.asarray(np.mean(rows, axis=0))


def _normalise(raw: NDArray[np.float64], baseline: float | None) -> NDArray[np.float64]:
    if baseline is None:
        return raw
    return np.maximum(0.0, (raw - baseline) / (1.0 - baseline))


def task_rows(
    st: SuiteTask, leaf_raw: dict[str, NDArray[np.float64]], sizes: dict[str, int]
) -> NDArray[np.float64]:
    """The suite task's score (0..1) per row from its leaves' raw scores, aggregated as the suite
    says: normalised subtasks' plain mean, or the size-weighted mean normalised once."""
    leaves = list(leaf_raw)
    if st.aggregate == "size_weighted":
        total = sum(sizes[leaf] for leaf in leaves)
        stacked = np.stack([sizes[leaf] * leaf_raw[leaf] for leaf in leaves])
        return _normalise(stacked.sum(axis=0) / total, st.baseline(leaves[0]))
    normed = [_normalise(leaf_raw[leaf], st.baseline(leaf)) for leaf in leaves]
    return np.asarray(np.mean(normed, axis=0))


def point_scores(suite: Suite, result: EvalResult) -> tuple[dict[str, float], float]:
    """(per-task score 0..1, suite average on the suite's scale) recomputed from the result's
    per-document results alone: equal to what lm-eval reported."""
    tasks = {}
    for st in suite.tasks:
        if st.name not in result.tasks:
            continue
        raw, sizes = {}, {}
        for leaf in result.tasks[st.name].leaves:
            docs = result.documents[leaf]
            raw[leaf] = leaf_rows(st, docs, np.ones((1, len(docs))), leaf)
            sizes[leaf] = len(docs)
        tasks[st.name] = float(task_rows(st, raw, sizes)[0])
    if not tasks:
        raise ScoringError(f"suite {suite.name}: no task has documents")
    return tasks, suite.scale * sum(tasks.values()) / len(tasks)
