"""Turning lm-eval's per-task results into suite scores: the metric named by the suite, subtask
plain means (MMLU as the leaderboard averaged it), optional random-baseline normalisation
(leaderboard v2), and the suite average.
"""

from __future__ import annotations

import math
from typing import Any

from climb.evaluate.suites import Suite, SuiteTask


class ScoringError(ValueError):
    """A metric the suite needs is missing or not a number; nothing may be promoted on it."""


def _metric(results: dict[str, Any], leaf: str, metric: str) -> tuple[float, float | None]:
    row = results.get(leaf)
    if row is None:
        raise ScoringError(f"lm-eval returned no results for task {leaf}")
    value = row.get(f"{metric},none", row.get(metric))
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise ScoringError(f"task {leaf}: metric {metric} is {value!r}, not a number")
    se = row.get(f"{metric}_stderr,none")
    return float(value), float(se) if isinstance(se, int | float) and not math.isnan(se) else None


def normalise(raw: float, baseline: float | None) -> float:
    """Leaderboard-v2 normalisation: (raw - b) / (1 - b), clipped at 0; identity without b."""
    if baseline is None:
        return raw
    return max(0.0, (raw - baseline) / (1.0 - baseline))


def score_task(
    st: SuiteTask, leaves: list[str], results: dict[str, Any], n_samples: dict[str, Any]
) -> dict[str, Any]:
    """Return {score, stderr, metric, num_fewshot, n, subtasks} for one suite task (0..1 scale)."""
    per_leaf = {leaf: _metric(results, leaf, st.metric) for leaf in leaves}
    normed = {leaf: normalise(v, st.random_baseline) for leaf, (v, _) in per_leaf.items()}
    score = sum(normed.values()) / len(normed)
    ses = [se for _, se in per_leaf.values()]
    stderr = (
        math.sqrt(sum(s * s for s in ses if s is not None)) / len(ses)
        if all(s is not None for s in ses)
        else None
    )
    if st.random_baseline is not None and stderr is not None:
        stderr = stderr / (1.0 - st.random_baseline)
    n = sum(int((n_samples.get(leaf) or {}).get("effective", 0)) for leaf in leaves)
    out: dict[str, Any] = {
        "score": score,
        "stderr": stderr,
        "metric": st.metric,
        "num_fewshot": st.num_fewshot,
        "n": n,
    }
    if len(leaves) > 1 or st.aggregate == "subtask_mean":
        out["subtasks"] = {leaf: round(v, 6) for leaf, v in normed.items()}
    return out


def score_suite(
    suite: Suite, leaves: dict[str, list[str]], lm_eval_out: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], float]:
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
    average = suite.scale * sum(t["score"] for t in tasks.values()) / len(tasks)
    return tasks, average
