"""Suite scoring on synthetic lm-eval output: per-subtask normalisation (BBH/MuSR), size-weighted
groups normalised once (GPQA), the mean of two metrics (IFEval), filters (GSM8K), and errors."""

from __future__ import annotations

import pytest

from climb.evaluate.scoring import ScoringError, normalise, score_suite, score_task
from climb.evaluate.suites import Suite, SuiteTask


def task(**kw) -> SuiteTask:
    return SuiteTask.model_validate({"name": "t", "task": "t", "num_fewshot": 0, **kw})


def test_normalise_clips_at_zero() -> None:
    assert normalise(0.5, None) == 0.5
    assert normalise(0.625, 0.25) == pytest.approx(0.5)
    assert normalise(0.1, 0.25) == 0.0


def test_per_subtask_baselines_then_plain_mean() -> None:
    st = task(metric="acc_norm", aggregate="subtask_mean", random_baseline={"a": 0.5, "b": 0.2})
    results = {"a": {"acc_norm,none": 0.75}, "b": {"acc_norm,none": 0.6}}
    out = score_task(st, ["a", "b"], results, {"a": {"effective": 10}, "b": {"effective": 30}})
    assert out.subtasks == {"a": 0.5, "b": 0.5}
    assert out.score == pytest.approx(0.5)
    assert out.n == 40


def test_size_weighted_mean_then_one_normalisation() -> None:
    st = task(metric="acc_norm", aggregate="size_weighted", random_baseline=0.25)
    results = {
        "a": {"acc_norm,none": 1.0, "acc_norm_stderr,none": 0.0},
        "b": {"acc_norm,none": 0.0, "acc_norm_stderr,none": 0.0},
    }
    out = score_task(st, ["a", "b"], results, {"a": {"effective": 1}, "b": {"effective": 3}})
    assert out.score == pytest.approx(0.0)  # raw 0.25 -> normalised 0
    results["b"]["acc_norm,none"] = 0.5
    out = score_task(st, ["a", "b"], results, {"a": {"effective": 1}, "b": {"effective": 3}})
    assert out.score == pytest.approx((0.625 - 0.25) / 0.75)
    assert out.stderr == 0.0


def test_average_of_two_metrics_and_filters() -> None:
    st = task(metric="strict_acc", average_of=["prompt_level_strict_acc", "inst_level_strict_acc"])
    row = {"prompt_level_strict_acc,none": 0.2, "inst_level_strict_acc,none": 0.4}
    out = score_task(st, ["t"], {"t": row}, {})
    assert out.score == pytest.approx(0.3)
    assert out.stderr is None
    gsm = task(metric="exact_match", filter="strict-match")
    res = {"t": {"exact_match,strict-match": 0.1, "exact_match,flexible-extract": 0.9}}
    assert score_task(gsm, ["t"], res, {}).score == pytest.approx(0.1)


def test_missing_baseline_metric_or_sizes_are_errors() -> None:
    st = task(metric="acc", aggregate="subtask_mean", random_baseline={"a": 0.5})
    with pytest.raises(ScoringError, match="no random_baseline for subtask b"):
        score_task(st, ["a", "b"], {"a": {"acc,none": 1}, "b": {"acc,none": 1}}, {})
    with pytest.raises(ScoringError, match="not a number"):
        score_task(task(metric="acc"), ["t"], {"t": {"acc,none": float("nan")}}, {})
    with pytest.raises(ScoringError, match="n-samples"):
        score_task(task(metric="acc", aggregate="size_weighted"), ["t"], {"t": {"acc,none": 1}}, {})


def test_suite_rejects_bad_baselines() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        task(metric="acc", random_baseline={"a": 1.5})
    with pytest.raises(ValueError, match="one random_baseline"):
        task(metric="acc", aggregate="size_weighted", random_baseline={"a": 0.5})


def test_suite_average_counts_each_task_once() -> None:
    suite = Suite(
        name="s",
        version="1",
        tasks=[task(name="x", task="x", metric="acc"), task(name="y", task="y", metric="acc")],
    )
    out = {"results": {"x": {"acc,none": 0.2}, "y": {"acc,none": 0.4}}, "n-samples": {}}
    tasks, average = score_suite(suite, {"x": ["x"], "y": ["y"]}, out)
    assert average == pytest.approx(30.0)
    assert set(tasks) == {"x", "y"}
