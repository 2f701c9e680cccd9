"""What a run shows about its promotion: the Prefect markdown artifact and the MLflow plots."""

from __future__ import annotations

from pathlib import Path

from support.factories import run_summary, suite_scores

from climb.pipeline.plots import history_chart, scores_chart
from climb.pipeline.summary import decision_markdown, render_summary
from climb.records import Release

CAND = suite_scores(scores={"arc_challenge": 0.50, "mmlu": 0.40}, stderr=0.05, n=2)
REF = suite_scores(scores={"arc_challenge": 0.44, "mmlu": 0.40}, stderr=0.05, n=2)
SUMMARY = run_summary(
    CAND,
    REF,
    reasons=["average 45.00 beats champion 42.00 by +3.00"],
    reference_kind="champion",
    reference_version="3",
).model_copy(
    update={
        "release": Release.model_validate(
            {
                "registered_model": "climb-demo",
                "version": "4",
                "promoted": True,
                "reason": "version 3 is still the champion",
                "publish": {"mode": "push", "message": "pushed to org/model"},
            }
        ),
        "mlflow_run_url": "http://mlflow/#/experiments/1/runs/abc",
    }
)


def test_markdown_has_per_task_table_with_stderr_decision_and_links() -> None:
    md = decision_markdown(SUMMARY)
    assert md.startswith("# demo: **promoted to champion**")
    assert "| task | champion v3 | candidate | gain | documents |" in md
    assert "| arc_challenge | 44.00 ± 5.00 | 50.00 ± 5.00 | +6.00 | 2 |" in md
    assert "| **average** | 42.00 ± 3.54 | 45.00 ± 3.54 | +3.00 | 4 |" in md
    assert "± is one standard error" in md
    assert "- average 45.00 beats champion 42.00 by +3.00" in md
    assert "under the lock): version 3 is still the champion" in md
    assert "`climb-demo` version 4 holds `champion`" in md
    assert "Publish: push: pushed to org/model" in md
    assert "limit 2, smoke" in md
    assert "(http://mlflow/#/experiments/1/runs/abc)" in md


def test_markdown_of_a_refused_candidate_names_challenger_and_missing_reference() -> None:
    summary = run_summary(
        CAND, None, promoted=False, reasons=["training data failed decontamination"]
    )
    md = decision_markdown(summary)
    assert "**not promoted**" in md and "holds `challenger`" in md
    assert "| arc_challenge | - | 50.00 ± 5.00 | - | 2 |" in md
    assert "under the lock" not in md


def test_console_summary_shows_the_reason_given_under_the_lock() -> None:
    moved = SUMMARY.release.model_copy(
        update={"reason": "the champion moved to version 5 during this run"}
    )
    text = render_summary(SUMMARY.model_copy(update={"release": moved}))
    assert "at promotion time (under the lock): the champion moved to version 5" in text


def test_plots_are_png_files(tmp_path: Path) -> None:
    from climb.registry.champion import Event

    bar = scores_chart(CAND, REF, "champion v3", tmp_path / "a" / "scores.png")
    alone = scores_chart(CAND, None, "base", tmp_path / "alone.png")
    no_err = scores_chart(
        suite_scores(scores={"arc_challenge": 0.5}, stderr=None), None, "base", tmp_path / "n.png"
    )
    common = {"by": "p", "reason": "r"}
    events = [
        Event(
            key="1-v1",
            version="1",
            previous=None,
            kind="pipeline",
            when=1.7e9,
            average=40.0,
            **common,
        ),
        Event(
            key="2-v2",
            version="2",
            previous="1",
            kind="manual",
            when=1.7e9 + 3600,
            average=44.0,
            **common,
        ),
        Event(
            key="3-v1",
            version="1",
            previous="2",
            kind="rollback",
            when=1.7e9 + 7200,
            average=40.0,
            restores="1-v1",
            **common,
        ),
    ]
    hist = history_chart(events, tmp_path / "h.png", "climb-demo")
    empty = history_chart([], tmp_path / "e.png", "climb-demo")
    for p in (bar, alone, no_err, hist, empty):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert bar.read_bytes() != alone.read_bytes()
    assert hist.read_bytes() != empty.read_bytes()
