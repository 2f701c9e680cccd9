"""The promotion decision, against a table of cases."""

from __future__ import annotations

import math

import pytest
from support.factories import suite_scores

from climb.config import PromotionConfig
from climb.records import SuiteScores
from climb.registry.decision import decide, recheck

POLICY = PromotionConfig(registered_model="m")


def s(
    avg: float, tasks: dict[str, float] | None = None, limit: int = 2, suite_version: str = "1"
) -> SuiteScores:
    """Scores with average `avg` and task scores in points (default: both tasks at `avg`)."""
    points = tasks if tasks is not None else {"a": avg, "b": avg}
    scores = suite_scores(scores={k: v / 100 for k, v in points.items()}, limit=limit)
    return scores.model_copy(update={"average": avg, "suite_version": suite_version})


@pytest.mark.parametrize(
    ("cand", "ref", "policy", "clean", "promote", "reason"),
    [
        (s(50), s(40), POLICY, True, True, "beats"),
        (s(40), s(50), POLICY, True, False, "does not beat"),
        (s(50), s(50), POLICY, True, False, "does not beat"),  # a tie never promotes
        (
            s(50.5),
            s(50),
            PromotionConfig(registered_model="m", min_improvement=1.0),
            True,
            False,
            "by more than 1.00",
        ),
        (
            s(52),
            s(50),
            PromotionConfig(registered_model="m", min_improvement=1.0),
            True,
            True,
            "beats",
        ),
        (
            s(60, {"a": 90, "b": 30}),
            s(50, {"a": 50, "b": 50}),
            PromotionConfig(registered_model="m", max_task_regression=5.0),
            True,
            False,
            "task b regressed by 20.00",
        ),
        (
            s(60, {"a": 90, "b": 48}),
            s(50, {"a": 50, "b": 50}),
            PromotionConfig(registered_model="m", max_task_regression=5.0),
            True,
            True,
            "beats",
        ),
        (s(60), s(50), POLICY, False, False, "decontamination"),
        (s(60), s(50, limit=10), POLICY, True, False, "measured differently"),
        (s(60), s(50, suite_version="2"), POLICY, True, False, "measured differently"),
        (s(60), None, POLICY, True, True, "first model"),
        (s(60), None, POLICY, False, False, "decontamination"),
        (s(float("nan")), s(50), POLICY, True, False, "not finite"),
        (s(60, {}), s(50), POLICY, True, False, "missing"),
    ],
)
def test_decision_table(
    cand: SuiteScores,
    ref: SuiteScores | None,
    policy: PromotionConfig,
    clean: bool,
    promote: bool,
    reason: str,
) -> None:
    d = decide(cand, ref, policy, contamination_clean=clean)
    assert d.promote is promote
    assert any(reason in r for r in d.reasons), d.reasons


def test_delta_is_reported() -> None:
    d = decide(s(55), s(50), POLICY, reference_kind="base")
    assert d.reference == "base"
    assert d.delta is not None and math.isclose(d.delta, 5.0)


def test_regressions_are_judged_on_the_suites_scale() -> None:
    """A suite on a 0..1 scale: a drop of 0.2 is 0.2 points, under a 0.5 limit."""
    policy = PromotionConfig(registered_model="m", max_task_regression=0.5)
    cand = suite_scores(scores={"a": 0.9, "b": 0.3}, scale=1.0)
    ref = suite_scores(scores={"a": 0.5, "b": 0.5}, scale=1.0)
    d = decide(cand, ref, policy)
    assert d.promote is True and d.delta == pytest.approx(0.1)
    strict = PromotionConfig(registered_model="m", max_task_regression=0.1)
    assert "task b regressed by 0.20" in decide(cand, ref, strict).reasons[0]


STRICT = PromotionConfig(registered_model="m", max_task_regression=5.0)


@pytest.mark.parametrize(
    ("decided_against", "current", "current_result", "policy", "clean", "ok", "reason"),
    [
        (None, None, None, POLICY, True, True, "no champion"),
        ("3", None, None, POLICY, True, True, "no champion"),  # alias removed meanwhile
        ("3", "3", None, POLICY, True, True, "still the champion"),
        (None, "4", None, POLICY, True, False, "no recorded scores"),
        ("3", "4", None, POLICY, True, False, "no recorded scores"),
        ("3", "4", s(70), POLICY, True, False, "does not beat"),  # a better one won meanwhile
        ("3", "4", s(55), POLICY, True, True, "beats"),  # a worse one won meanwhile
        ("3", "4", s(55, limit=9), POLICY, True, False, "measured differently"),
        ("3", "4", s(55), POLICY, False, False, "decontamination"),
        ("3", "4", s(55, {"a": 80, "b": 30}), STRICT, True, False, "task a regressed"),
    ],
)
def test_recheck_under_the_lock(
    decided_against: str | None,
    current: str | None,
    current_result: SuiteScores | None,
    policy: PromotionConfig,
    clean: bool,
    ok: bool,
    reason: str,
) -> None:
    got, why = recheck(s(60), decided_against, current, current_result, policy, clean)
    assert got is ok
    assert reason in why, why
    if current not in (None, decided_against):
        assert f"moved to version {current}" in why
