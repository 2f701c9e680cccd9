"""Turning lm-eval's per-task results into suite scores: the metric named by the suite, subtask
plain means (MMLU as the leaderboard averaged it), optional random-baseline normalisation
(leaderboard v2), and the suite average.
"""

from __future__ import annotations

import math
from typing import Any

from climb.evaluate.suites import Suite, SuiteTask
from climb.records import TaskScore


class ScoringError(ValueError):
    """A metric the suite needs is missing or not a number; nothing may be promoted on it."""


def _metric(
    results: dict[str, Any], leaf: str, metric: str, filt: str = "none"
) -> tuple[float, float | None]:
    row = results.get(leaf)
    if row is None:
        raise ScoringError(f"lm-eval returned no results for task {leaf}")
    value = row.get(f"{metric},{filt}", row.get(metric) if filt == "none" else None)
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise ScoringError(
            f"task {leaf}: metric {metric} (filter {filt}) is {value!r}, not a number"
        )
    se = row.get(f"{metric}_stderr,{filt}")
    return float(value), float(se) if isinstance(se, int | float) and not math.isnan(se) else None


def leaf_value(st: SuiteTask, results: dict[str, Any], leaf: str) -> tuple[float, float | None]:
    """Return (raw score, stderr) of one leaf task: the suite's metric, or the plain mean of its
    `average_of` metrics (stderr None then: the metrics are not independent)."""
    values = [_metric(results, leaf, m, st.filter) for m in st.metrics()]
    if len(values) == 1:
        return values[0]
    return sum(v for v, _ in values) / len(values), None


def normalise(raw: float, baseline: float | None) -> float:
    """Leaderboard-v2 normalisation: (raw - b) / (1 - b), clipped at 0; identity without b."""
    if baseline is None:
        return raw
    return max(0.0, (raw - baseline) / (1.0 - baseline))


def _root_sum_sq(parts: list[float | None]) -> float | None:
    if any(p is None for p in parts):
        return None
    return math.sqrt(sum(p * p for p in parts if p is not None))


def score_task(
    st: SuiteTask, leaves: list[str], results: dict[str, Any], n_samples: dict[str, Any]
) -> TaskScore:
    """Return the TaskScore of one suite task (0..1 scale) from lm-eval's results and n-samples.

    `subtask_mean` (and `single`) normalise each leaf with its own baseline, then take the plain
    mean; `size_weighted` takes the mean over all documents, then normalises once.
    """
    raw = {leaf: leaf_value(st, results, leaf) for leaf in leaves}
    sizes = {leaf: int((n_samples.get(leaf) or {}).get("effective", 0)) for leaf in leaves}
    try:
        base = {leaf: st.baseline(leaf) for leaf in leaves}
    except KeyError as exc:
        raise ScoringError(str(exc)) from exc
    normed = {leaf: normalise(v, base[leaf]) for leaf, (v, _) in raw.items()}
    stderr: float | None
    if st.aggregate == "size_weighted":
        total = sum(sizes.values())
        if total == 0:
            raise ScoringError(f"{st.name}: size_weighted needs lm-eval's n-samples")
        b = base[leaves[0]]
        score = normalise(sum(sizes[k] * v for k, (v, _) in raw.items()) / total, b)
        se = _root_sum_sq([sizes[k] * s if s is not None else None for k, (_, s) in raw.items()])
        stderr = None if se is None else se / total / (1.0 - (b or 0.0))
    else:
        score = sum(normed.values()) / len(normed)
        se = _root_sum_sq(
            [s / (1.0 - (base[k] or 0.0)) if s is not None else None for k, (_, s) in raw.items()]
        )
        stderr = None if se is None else se / len(leaves)
    subtasks = {leaf: round(v, 6) for leaf, v in normed.items()}
    return TaskScore(
        score=score,
        stderr=stderr,
        metric=st.metric,
        num_fewshot=st.num_fewshot,
        n=sum(sizes.values()),
        subtasks=subtasks if len(leaves) > 1 or st.aggregate != "single" else {},
        leaves=list(leaves),
    )


def score_suite(
    suite: Suite, leaves: dict[str, list[str]], lm_eval_out: dict[str, Any]
) -> tuple[dict[str, TaskScore], float]:
    """Return (per-task scores, suite average on the suite's scale) from lm-eval's output."""
    results = lm_eval_out.get("results", {})
    n_samples = lm_eval_out.get("n-samples", {})
    tasks = {
        name: score_task(st, leaves[name], results, n_samples)
        for st in suite.tasks
        if (name := st.name) in leaves
    }
    if not tasks:
        raise ScoringError(f"suite {suite.name}: no task produced a score")
    average = suite.scale * sum(t.score for t in tasks.values()) / len(tasks)
    return tasks, average
