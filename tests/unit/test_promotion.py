"""The promotion decision, against a table of cases; and the re-check under the lock."""

from __future__ import annotations

import pytest
from support.factories import documents, eval_result

from climb.config import PromotionConfig
from climb.evaluate.suites import load_suite
from climb.records import EvalResult, TaskScore
from climb.registry.decision import decide, recheck

POLICY = PromotionConfig(registered_model="m")
SUITE = load_suite("open-llm-v1")
TASKS = ("arc_challenge", "mmlu")


def s(avg: float, tasks: dict[str, float] | None = None, limit: int = 2, **kw: str) -> EvalResult:
    """A result whose every document of a task scores the task's points / 100 (so intervals
    are exact: no spread) and whose average is `avg`."""
    points = tasks if tasks is not None else dict.fromkeys(TASKS, avg)
    res = eval_result(scores={k: v / 100 for k, v in points.items()}, limit=limit)
    return res.model_copy(update={"average": avg, **kw})


@pytest.mark.parametrize(
    ("cand", "ref", "policy", "clean", "promote", "outcome", "reason"),
    [
        (s(50), s(40), POLICY, True, True, "better", "above +0.00 at the lower bound"),
        (s(40), s(50), POLICY, True, False, "not_better", "not above +0.00"),
        (s(50), s(50), POLICY, True, False, "not_better", "not above"),  # a tie never promotes
        (
            s(50.5),
            s(50),
            PromotionConfig(registered_model="m", min_improvement=1.0),
            True,
            False,
            "not_better",
            "not above +1.00",
        ),
        (
            s(52),
            s(50),
            PromotionConfig(registered_model="m", min_improvement=1.0),
            True,
            True,
            "better",
            "above +1.00",
        ),
        (
            s(60, {"arc_challenge": 90, "mmlu": 30}),
            s(50, {"arc_challenge": 50, "mmlu": 50}),
            PromotionConfig(registered_model="m", max_task_regression=5.0),
            True,
            False,
            "not_better",
            "task mmlu regressed",
        ),
        (
            s(60, {"arc_challenge": 90, "mmlu": 48}),
            s(50, {"arc_challenge": 50, "mmlu": 50}),
            PromotionConfig(registered_model="m", max_task_regression=5.0),
            True,
            True,
            "better",
            "above",
        ),
        (s(60), s(50), POLICY, False, False, "blocked", "decontamination"),
        (s(60), s(50, limit=10), POLICY, True, False, "blocked", "measured differently"),
        (s(60), s(50, suite_version="2"), POLICY, True, False, "blocked", "measured differently"),
        (s(60), None, POLICY, True, True, "first", "first model"),
        (s(60), None, POLICY, False, False, "blocked", "decontamination"),
        (s(float("nan")), s(50), POLICY, True, False, "blocked", "not finite"),
        (s(60, {}), s(50), POLICY, True, False, "blocked", "missing"),
    ],
)
def test_decision_table(
    cand: EvalResult,
    ref: EvalResult | None,
    policy: PromotionConfig,
    clean: bool,
    promote: bool,
    outcome: str,
    reason: str,
) -> None:
    d = decide(cand, ref, policy, SUITE, contamination_clean=clean)
    assert (d.promote, d.outcome) == (promote, outcome), d.reasons
    assert any(reason in r for r in d.reasons), d.reasons


def test_gain_and_interval_are_reported_in_points() -> None:
    d = decide(s(55), s(50), POLICY, SUITE, reference_kind="base")
    assert d.reference == "base" and d.comparison is not None
    assert d.delta == pytest.approx(5.0) and d.comparison.average.gain == pytest.approx(5.0)
    assert "average gain over base +5.00 [+5.00, +5.00] (95% interval, 4 paired" in d.reasons[0]


def test_regressions_are_judged_on_the_suites_scale() -> None:
    """A suite on a 0..1 scale: a drop of 0.2 is 0.2 points, under a 0.5 limit."""
    one = SUITE.model_copy(update={"scale": 1.0})
    cand = eval_result(scores={"arc_challenge": 0.9, "mmlu": 0.3}, scale=1.0)
    ref = eval_result(scores={"arc_challenge": 0.5, "mmlu": 0.5}, scale=1.0)
    policy = PromotionConfig(registered_model="m", max_task_regression=0.5)
    d = decide(cand, ref, policy, one)
    assert d.promote is True and d.delta == pytest.approx(0.1)
    strict = PromotionConfig(registered_model="m", max_task_regression=0.1)
    assert (
        "task mmlu regressed: gain -0.20 [-0.20, -0.20]"
        in decide(cand, ref, strict, one).reasons[0]
    )


def test_different_document_content_blocks_the_comparison() -> None:
    cand, ref = s(60), s(50)
    docs = documents([0.5, 0.5], "acc", salt="other-data")
    ref = ref.model_copy(update={"documents": {**ref.documents, "mmlu": docs}})
    d = decide(cand, ref, POLICY, SUITE)
    assert d.outcome == "blocked" and "not the same benchmark data" in d.reasons[0]


STRICT = PromotionConfig(registered_model="m", max_task_regression=5.0)


@pytest.mark.parametrize(
    ("decided_against", "current", "current_result", "policy", "clean", "ok", "reason"),
    [
        (None, None, None, POLICY, True, True, "no champion"),
        ("3", None, None, POLICY, True, True, "no champion"),  # alias removed meanwhile
        ("3", "3", None, POLICY, True, True, "still the champion"),
        (None, "4", None, POLICY, True, False, "not in the evaluation cache"),
        ("3", "4", None, POLICY, True, False, "not in the evaluation cache"),
        ("3", "4", s(70), POLICY, True, False, "not above"),  # a better one won meanwhile
        ("3", "4", s(55), POLICY, True, True, "above"),  # a worse one won meanwhile
        ("3", "4", s(55, limit=9), POLICY, True, False, "measured differently"),
        ("3", "4", s(55), POLICY, False, False, "decontamination"),
        (
            "3",
            "4",
            s(55, {"arc_challenge": 80, "mmlu": 30}),
            STRICT,
            True,
            False,
            "task arc_challenge regressed",
        ),
    ],
)
def test_recheck_under_the_lock(
    decided_against: str | None,
    current: str | None,
    current_result: EvalResult | None,
    policy: PromotionConfig,
    clean: bool,
    ok: bool,
    reason: str,
) -> None:
    got, why = recheck(s(60), decided_against, current, current_result, policy, SUITE, clean)
    assert got is ok
    assert reason in why, why
    if current not in (None, decided_against):
        assert f"moved to version {current}" in why


def test_task_score_round_trip_keeps_leaves() -> None:
    t = TaskScore(score=0.5, metric="acc", num_fewshot=0, n=2, leaves=["a", "b"])
    assert TaskScore.model_validate_json(t.model_dump_json()).leaves == ["a", "b"]
