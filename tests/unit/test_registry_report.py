"""What a run shows about its promotion: the Prefect markdown artifact and the MLflow plots."""

from __future__ import annotations

from pathlib import Path

from climb.pipeline.plots import history_chart, scores_chart
from climb.pipeline.summary import decision_markdown, render_summary
from climb.registry.champion import Event


def _res(avg: float, arc: float, mmlu: float) -> dict:
    return {
        "average": avg,
        "suite": "open-llm-v1",
        "suite_version": "1",
        "protocol": "lm-eval-0.4",
        "limit": 2,
        "data_source": "smoke",
        "tasks": {"arc_challenge": {"score": arc}, "mmlu": {"score": mmlu}},
    }


SUMMARY = {
    "name": "demo",
    "candidate_result": _res(45.0, 0.50, 0.40),
    "reference": {"kind": "champion", "version": "3", "result": _res(42.0, 0.44, 0.40)},
    "decision": {"promote": True, "reasons": ["average 45.00 beats champion 42.00 by +3.00"]},
    "promotion": {"registered_model": "climb-demo", "version": "4", "promoted": True},
    "promotion_reason": "version 3 is still the champion",
    "publish": {"mode": "push", "message": "pushed to org/model"},
    "mlflow_run_url": "http://mlflow/#/experiments/1/runs/abc",
}


def test_markdown_has_per_task_table_decision_and_links() -> None:
    md = decision_markdown(SUMMARY)
    assert md.startswith("# demo: **promoted to champion**")
    assert "| task | champion v3 | candidate | delta |" in md
    assert "| arc_challenge | 44.00 | 50.00 | 6.00 |" in md
    assert "| **average** | 42.00 | 45.00 | 3.00 |" in md
    assert "- average 45.00 beats champion 42.00 by +3.00" in md
    assert "under the lock): version 3 is still the champion" in md
    assert "`climb-demo` version 4 holds `champion`" in md
    assert "Publish: push: pushed to org/model" in md
    assert "limit 2, data smoke" in md
    assert "(http://mlflow/#/experiments/1/runs/abc)" in md


def test_markdown_of_a_refused_candidate_names_challenger_and_missing_reference() -> None:
    summary = {
        **SUMMARY,
        "reference": {"kind": "base", "version": None, "result": None},
        "decision": {"promote": False, "reasons": ["training data failed decontamination"]},
        "promotion": {"registered_model": "m", "version": "5", "promoted": False},
    }
    md = decision_markdown(summary)
    assert "**not promoted**" in md and "holds `challenger`" in md
    assert "| arc_challenge | - | 50.00 | - |" in md
    assert "under the lock" not in md


def test_console_summary_shows_the_reason_given_under_the_lock() -> None:
    summary = {**SUMMARY, "promotion_reason": "the champion moved to version 5 during this run"}
    text = render_summary(summary)
    assert "at promotion time (under the lock): the champion moved to version 5" in text


def test_plots_are_png_files(tmp_path: Path) -> None:
    bar = scores_chart(
        SUMMARY["candidate_result"],
        SUMMARY["reference"]["result"],
        "champion v3",
        tmp_path / "a" / "scores.png",
    )
    alone = scores_chart(SUMMARY["candidate_result"], None, "base", tmp_path / "alone.png")
    events = [
        Event("1-v1", "1", None, "pipeline", "p", "r", 1.7e9, 40.0),
        Event("2-v2", "2", "1", "manual", "alice", "r", 1.7e9 + 3600, 44.0),
        Event("3-v1", "1", "2", "rollback", "bob", "r", 1.7e9 + 7200, 40.0, "1-v1"),
    ]
    hist = history_chart(events, tmp_path / "h.png", "climb-demo")
    empty = history_chart([], tmp_path / "e.png", "climb-demo")
    for p in (bar, alone, hist, empty):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert bar.read_bytes() != alone.read_bytes()
    assert hist.read_bytes() != empty.read_bytes()
