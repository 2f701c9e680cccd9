"""The end-of-run summary: per-task table, decision, links, stage times and overhead."""

from __future__ import annotations

import pytest

from climb.pipeline.summary import overhead, render_summary, score_table


def _result(avg: float, arc: float) -> dict:
    return {"average": avg, "tasks": {"arc_challenge": {"score": arc}}}


def test_overhead_counts_only_non_compute_time() -> None:
    extra, share = overhead(
        {"fine_tune": 60.0, "evaluate_candidate": 30.0, "prepare_data": 5.0}, 100.0
    )
    assert extra == pytest.approx(5.0)
    assert share == pytest.approx(0.05)


def test_score_table_shows_delta() -> None:
    lines = score_table(_result(40.0, 0.40), _result(45.0, 0.45), "base")
    assert "arc_challenge" in lines[1] and "40.00" in lines[1] and "45.00" in lines[1]
    assert "5.00" in lines[-1]


def test_summary_mentions_decision_links_and_overhead() -> None:
    text = render_summary(
        {
            "name": "demo",
            "status": "completed",
            "candidate_result": _result(45.0, 0.45),
            "reference": {"kind": "base", "result": _result(40.0, 0.40)},
            "decision": {"promote": True, "reasons": ["average 45.00 beats base 40.00"]},
            "promotion": {"promoted": True, "registered_model": "m", "version": "3"},
            "publish": {"mode": "outbox", "message": "wrote it"},
            "mlflow_run_url": "http://mlflow/x",
            "prefect_flow_run_url": "http://prefect/y",
            "timings": {"fine_tune": 90.0, "evaluate_candidate": 8.0},
            "total_seconds": 100.0,
        }
    )
    assert "PROMOTED" in text and "version 3" in text
    assert "http://mlflow/x" in text and "http://prefect/y" in text
    assert "orchestration overhead" in text and "2.0 %" in text
