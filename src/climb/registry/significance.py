"""Did the candidate really climb? A paired bootstrap over documents.

Both models were scored on the same documents (same suite, version, protocol, limit, data).
The documents are resampled with replacement within each lm-eval leaf task (each MMLU subject,
each benchmark), the same draw for both models, and the suite's own aggregation is recomputed on
every resample (climb.evaluate.aggregate: the subject mean of MMLU, leaderboard-v2
normalisation, the size-weighted mean, the mean over tasks, the suite's scale). The spread of
the candidate-minus-reference difference over the resamples gives a confidence interval for the
gain of every task and of the average (each leaf's resampled deviation rescaled by
sqrt(n / (n - 1)), so that few documents a leaf do not narrow the interval). Pairing uses that
the two models succeed and fail on largely the same documents: the interval of a difference is
much narrower than the two scores' standard errors together suggest.

Seeded (the seed and the leaf's name decide every draw), so a decision is reproducible.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray

from climb.evaluate.aggregate import leaf_rows, task_rows
from climb.evaluate.suites import Suite
from climb.records import Comparison, DocResult, EvalResult, Interval

CHUNK = 250  # resamples drawn at a time (bounds memory: CHUNK x documents of the largest leaf)


class ComparisonError(ValueError):
    """The two results cannot be compared document by document; the message says why."""


def paired_documents(
    candidate: EvalResult, reference: EvalResult, leaf: str
) -> tuple[list[DocResult], list[DocResult], int]:
    """The documents of `leaf` scored for both models, in the same order, and how many were
    scored for one model only. Raise ComparisonError when one document id holds different
    content for the two (they were not measured on the same data)."""
    cand = {d.doc_id: d for d in candidate.documents.get(leaf, [])}
    ref = {d.doc_id: d for d in reference.documents.get(leaf, [])}
    common = sorted(cand.keys() & ref.keys())
    for i in common:
        if cand[i].doc_hash != ref[i].doc_hash:
            raise ComparisonError(
                f"task {leaf}: document {i} differs between candidate and reference "
                f"({cand[i].doc_hash[:12]} vs {ref[i].doc_hash[:12]}): not the same benchmark data"
            )
    unpaired = len(cand.keys() ^ ref.keys())
    return [cand[i] for i in common], [ref[i] for i in common], unpaired


def _leaf_seed(seed: int, leaf: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(leaf.encode())])


def _interval(point: float, draws: NDArray[np.float64], confidence: float) -> Interval:
    """The point gain and the central `confidence` percentile interval of its resamples."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Interval(gain=point, low=float(low), high=float(high))


def rescale(n: int) -> float:
    """The factor on a leaf's resampled deviation that makes its bootstrap variance unbiased:
    sqrt(n / (n - 1)) (the rescaled bootstrap of Rao and Wu, 1988; a plain bootstrap of n
    documents has (n - 1) / n of the true variance, half of it at 2 documents a leaf, as MMLU's
    subjects have at small limits). 1 for a single document, which has no spread to rescale
    (`Comparison.single_document_leaves` counts those)."""
    return float(np.sqrt(n / (n - 1))) if n > 1 else 1.0


def compare(
    candidate: EvalResult,
    reference: EvalResult,
    suite: Suite,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Estimate the candidate's gain over the reference, per task and for the suite average
    (points on the suite's scale), with `confidence` intervals from a paired bootstrap of
    `resamples` draws. Raises ComparisonError when no document was scored for both."""
    tasks = [st for st in suite.tasks if st.name in candidate.tasks and st.name in reference.tasks]
    if not tasks:
        raise ComparisonError("the two results share no task")
    pairs: dict[str, tuple[list[DocResult], list[DocResult]]] = {}
    unpaired = 0
    for st in tasks:
        for leaf in candidate.tasks[st.name].leaves:
            c, r, lost = paired_documents(candidate, reference, leaf)
            if not c:
                raise ComparisonError(f"task {leaf}: no document was scored for both models")
            pairs[leaf] = (c, r)
            unpaired += lost
    rngs = {leaf: _leaf_seed(seed, leaf) for leaf in pairs}
    leaf_task = {leaf: st for st in tasks for leaf in candidate.tasks[st.name].leaves}
    observed = [
        {
            leaf: leaf_rows(leaf_task[leaf], p[side], np.ones((1, len(p[side]))), leaf)
            for leaf, p in pairs.items()
        }
        for side in (0, 1)
    ]

    def gains(rows: int, draw: bool) -> dict[str, NDArray[np.float64]]:
        """Per task and `average`: candidate minus reference (points) for `rows` weight rows."""
        out: dict[str, NDArray[np.float64]] = {}
        for side in (0, 1):
            scores = []
            for st in tasks:
                raw, sizes = {}, {}
                for leaf in candidate.tasks[st.name].leaves:
                    n = len(pairs[leaf][side])
                    if draw:
                        seen = observed[side][leaf]
                        drawn = leaf_rows(st, pairs[leaf][side], weights[leaf], leaf)
                        raw[leaf] = seen + rescale(n) * (drawn - seen)
                    else:
                        raw[leaf] = np.repeat(observed[side][leaf], rows)
                    sizes[leaf] = n
                scores.append(suite.scale * task_rows(st, raw, sizes))
            sign = 1.0 if side == 0 else -1.0
            for st, s in zip(tasks, scores, strict=True):
                out[st.name] = out.get(st.name, 0.0) + sign * s
            out["average"] = out.get("average", 0.0) + sign * np.mean(scores, axis=0)
        return out

    weights: dict[str, NDArray[np.float64]] = {}
    point = {k: float(v[0]) for k, v in gains(1, draw=False).items()}
    draws: dict[str, list[NDArray[np.float64]]] = {k: [] for k in point}
    for start in range(0, resamples, CHUNK):
        rows = min(CHUNK, resamples - start)
        for leaf, (docs, _) in pairs.items():
            n = len(docs)
            weights[leaf] = (
                rngs[leaf].multinomial(n, np.full(n, 1.0 / n), size=rows).astype(np.float64)
            )
        for k, v in gains(rows, draw=True).items():
            draws[k].append(v)
    intervals = {k: _interval(point[k], np.concatenate(v), confidence) for k, v in draws.items()}
    average = intervals.pop("average")
    return Comparison(
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        paired_documents=sum(len(c) for c, _ in pairs.values()),
        unpaired_documents=unpaired,
        single_document_leaves=sum(len(c) == 1 for c, _ in pairs.values()),
        average=average,
        tasks=intervals,
    )
