"""The end-of-run summary: per-task table with standard errors, decision, links, stage times
and overhead."""

from __future__ import annotations

import pytest
from support.factories import run_summary, suite_scores

from climb.pipeline.summary import render_summary, score_table
from climb.records import StageTimings


def test_overhead_counts_only_non_compute_time() -> None:
    timings = StageTimings(fine_tune=60.0, evaluate_candidate=30.0, prepare_data=5.0)
    summary = run_summary(suite_scores(45.0), None, timings=timings, total_seconds=100.0)
    extra, share = summary.overhead()
    assert extra == pytest.approx(5.0)
    assert share == pytest.approx(0.05)


def test_score_table_shows_scores_with_stderr_delta_and_documents() -> None:
    ref = suite_scores(scores={"arc_challenge": 0.40}, stderr=0.05, n=20)
    cand = suite_scores(scores={"arc_challenge": 0.45}, stderr=0.04, n=20)
    lines = score_table(ref, cand, "base")
    row = lines[1].split()
    assert row == ["arc_challenge", "40.00", "±", "5.00", "45.00", "±", "4.00", "+5.00", "20"]
    assert lines[2].split()[:1] == ["average"] and "+5.00" in lines[2]
    assert "± is one standard error" in lines[-1]


def test_a_scale_1_suite_is_shown_on_its_own_scale() -> None:
    ref = suite_scores(scores={"a": 0.40}, scale=1.0, stderr=0.05)
    cand = suite_scores(scores={"a": 0.45}, scale=1.0, stderr=0.04)
    row = score_table(ref, cand, "base")[1].split()
    assert row[1] == "0.40" and row[4] == "0.45" and row[7] == "+0.05"
    assert "(scores 0-1;" in score_table(ref, cand, "base")[-1]


def test_summary_mentions_decision_links_and_overhead() -> None:
    text = render_summary(
        run_summary(
            suite_scores(45.0),
            suite_scores(40.0),
            reasons=["average 45.00 beats base 40.00"],
            timings=StageTimings(fine_tune=90.0, evaluate_candidate=8.0),
            total_seconds=100.0,
        )
    )
    assert "PROMOTED" in text and "version 3" in text
    assert "http://mlflow/x" in text and "http://prefect/y" in text
    assert "orchestration overhead" in text and "2.0 %" in text
