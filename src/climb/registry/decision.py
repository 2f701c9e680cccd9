"""The promotion decision: a pure function of the candidate's scores, the reference's scores
(the champion's, or the base model's when there is no champion) and the policy. It returns the
decision with every reason, so the flow, the report and MLflow all say the same thing.
"""

from __future__ import annotations

import math
from typing import Literal

from climb.config import PromotionConfig
from climb.records import Decision, SuiteScores


def _finite(scores: SuiteScores) -> bool:
    values = [scores.average, *(t.score for t in scores.tasks.values())]
    return bool(scores.tasks) and all(math.isfinite(v) for v in values)


def decide(
    candidate: SuiteScores,
    reference: SuiteScores | None,
    policy: PromotionConfig,
    reference_kind: Literal["champion", "base"] = "champion",
    contamination_clean: bool = True,
) -> Decision:
    """Decide whether `candidate` replaces `reference` under `policy`; return the Decision.

    Rules, all of which must pass: scores are finite numbers; the two were measured the same way;
    the training data passed decontamination; the candidate's average beats the reference's by
    more than `policy.min_improvement` (strictly: a tie never promotes); no task drops by more
    than `policy.max_task_regression` points. Points are on the suite's scale. With no reference
    at all the candidate is promoted.
    """
    kind = reference_kind
    if not _finite(candidate):
        return Decision(
            promote=False,
            reference=kind if reference else "none",
            reasons=["candidate scores are missing or not finite numbers"],
        )
    reasons: list[str] = []
    if not contamination_clean:
        reasons.append("training data failed decontamination against the evaluation suite")
    if reference is None:
        if reasons:
            return Decision(promote=False, reference="none", reasons=reasons)
        return Decision(
            promote=True,
            reference="none",
            reasons=["no champion and no reference scores: first model"],
        )
    if reference.measurement != candidate.measurement:
        reasons.append(
            f"reference measured differently ({reference.measurement.label()}) than the "
            f"candidate ({candidate.measurement.label()}); re-evaluate the reference"
        )
    delta = candidate.average - reference.average
    ok_avg = ""
    if delta > policy.min_improvement:
        ok_avg = (
            f"average {candidate.average:.2f} beats {reference_kind} {reference.average:.2f} "
            f"by {delta:+.2f} (> {policy.min_improvement:.2f})"
        )
    else:
        reasons.append(
            f"average {candidate.average:.2f} does not beat {reference_kind} "
            f"{reference.average:.2f} by more than {policy.min_improvement:.2f} "
            f"(delta {delta:+.2f})"
        )
    if policy.max_task_regression is not None:
        for task in reference.tasks:
            if task not in candidate.tasks:
                reasons.append(f"task {task} missing from the candidate's scores")
                continue
            drop = reference.points(task) - candidate.points(task)
            if drop > policy.max_task_regression:
                reasons.append(
                    f"task {task} regressed by {drop:.2f} points "
                    f"(limit {policy.max_task_regression:.2f})"
                )
    if reasons:
        return Decision(promote=False, reference=kind, delta=delta, reasons=reasons)
    return Decision(promote=True, reference=kind, delta=delta, reasons=[ok_avg])


def recheck(
    candidate: SuiteScores,
    decided_against: str | None,
    current_version: str | None,
    current_scores: SuiteScores | None,
    policy: PromotionConfig,
    contamination_clean: bool = True,
) -> tuple[bool, str]:
    """Re-decide under the promotion lock, against the champion as it is now.

    `decided_against` is the champion version the decision was made against (None: the base
    model, no champion then). The decision stands when that champion is still in place or there
    is none; when another pipeline moved the alias meanwhile, the candidate must beat the new
    champion's recorded scores too (measured the same way), else it is not promoted.
    Returns (promote, reason).
    """
    if current_version is None:
        return True, "no champion at promotion time"
    if current_version == decided_against:
        return True, f"version {current_version} is still the champion"
    moved = f"the champion moved to version {current_version} during this run"
    if current_scores is None:
        return False, f"{moved} and has no recorded scores; rerun to compare against it"
    again = decide(
        candidate,
        current_scores,
        policy,
        reference_kind="champion",
        contamination_clean=contamination_clean,
    )
    return again.promote, f"{moved}: " + "; ".join(again.reasons)
