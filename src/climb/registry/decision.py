"""The promotion decision: a pure function of the candidate's scores, the reference's scores
(the champion's, or the base model's when there is no champion) and the policy. It returns the
decision with every reason, so the flow, the report and MLflow all say the same thing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from climb.config import PromotionConfig


@dataclass(frozen=True)
class Scores:
    """A model's suite result as the decision needs it."""

    average: float
    tasks: dict[str, float]
    suite: str
    suite_version: str
    protocol: str
    limit: int | None = None
    data_source: str = ""

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> Scores:
        """Build from a suite result dict (as `evaluate_model` returns); task scores in points."""
        return cls(
            average=float(result["average"]),
            tasks={k: 100.0 * float(v["score"]) for k, v in result["tasks"].items()},
            suite=result["suite"],
            suite_version=str(result["suite_version"]),
            protocol=result["protocol"],
            limit=result.get("limit"),
            data_source=result.get("data_source", ""),
        )

    def comparable_with(self, other: Scores) -> bool:
        """True when both were measured the same way (suite, version, protocol, limit, data)."""
        return (self.suite, self.suite_version, self.protocol, self.limit, self.data_source) == (
            other.suite,
            other.suite_version,
            other.protocol,
            other.limit,
            other.data_source,
        )


@dataclass(frozen=True)
class Decision:
    """Whether to promote, against what, and why."""

    promote: bool
    reference: str  # "champion" | "base"
    delta: float | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def decide(
    candidate: Scores,
    reference: Scores | None,
    policy: PromotionConfig,
    reference_kind: str = "champion",
    contamination_clean: bool = True,
) -> Decision:
    """Decide whether `candidate` replaces `reference` under `policy`.

    Rules, all of which must pass: scores are finite numbers; the two were measured the same way;
    the training data passed decontamination; the candidate's average beats the reference's by
    more than `policy.min_improvement` (strictly: a tie never promotes); no task drops by more
    than `policy.max_task_regression` points. With no reference at all the candidate is promoted.
    """
    reasons: list[str] = []
    values = [candidate.average, *candidate.tasks.values()]
    if not candidate.tasks or any(not math.isfinite(v) for v in values):
        return Decision(
            False, reference_kind, None, ["candidate scores are missing or not finite numbers"]
        )
    if not contamination_clean:
        reasons.append("training data failed decontamination against the evaluation suite")
    if reference is None:
        if reasons:
            return Decision(False, "none", None, reasons)
        return Decision(True, "none", None, ["no champion and no reference scores: first model"])
    if not reference.comparable_with(candidate):
        reasons.append(
            f"reference measured differently ({reference.suite} v{reference.suite_version}, "
            f"{reference.protocol}, limit {reference.limit}, {reference.data_source}) than the "
            f"candidate ({candidate.suite} v{candidate.suite_version}, {candidate.protocol}, "
            f"limit {candidate.limit}, {candidate.data_source}); re-evaluate the reference"
        )
    delta = candidate.average - reference.average
    if delta > policy.min_improvement:
        ok_avg = f"average {candidate.average:.2f} beats {reference_kind} {reference.average:.2f}"
        ok_avg += f" by {delta:+.2f} (> {policy.min_improvement:.2f})"
    else:
        reasons.append(
            f"average {candidate.average:.2f} does not beat {reference_kind} "
            f"{reference.average:.2f} by more than {policy.min_improvement:.2f} "
            f"(delta {delta:+.2f})"
        )
        ok_avg = ""
    if policy.max_task_regression is not None:
        for task, ref_score in reference.tasks.items():
            cand = candidate.tasks.get(task)
            if cand is None:
                reasons.append(f"task {task} missing from the candidate's scores")
            elif ref_score - cand > policy.max_task_regression:
                reasons.append(
                    f"task {task} regressed by {ref_score - cand:.2f} points "
                    f"(limit {policy.max_task_regression:.2f})"
                )
    if reasons:
        return Decision(False, reference_kind, delta, reasons)
    return Decision(True, reference_kind, delta, [ok_avg])


def recheck(
    candidate: Scores,
    decided_against: str | None,
    current_version: str | None,
    current_result: dict[str, Any] | None,
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
    if current_result is None:
        return False, f"{moved} and has no recorded scores; rerun to compare against it"
    again = decide(
        candidate,
        Scores.from_result(current_result),
        policy,
        reference_kind="champion",
        contamination_clean=contamination_clean,
    )
    return again.promote, f"{moved}: " + "; ".join(again.reasons)
