"""The promotion decision: a pure function of the candidate's and the reference's per-document
results (the champion's, or the base model's when there is no champion), the suite and the
policy. It returns the decision with its outcome and every reason, each with its numbers, so
the flow, the report, the model card and MLflow all say the same thing.

The rule (docs/registry.md): the gain of the suite average is estimated with a paired bootstrap
over the documents both models were scored on (climb.registry.significance). The candidate is
better when the interval's lower bound is above `min_improvement`, not better when its upper
bound is at or below it, and inconclusive when the interval straddles the bar: a gain inside
the noise never makes a new champion.
"""

from __future__ import annotations

import math
from typing import Literal

from climb.config import PromotionConfig
from climb.evaluate.suites import Suite
from climb.records import Comparison, Decision, EvalResult, Outcome, SuiteScores
from climb.registry.significance import ComparisonError, compare


def _finite(scores: SuiteScores) -> bool:
    values = [scores.average, *(t.score for t in scores.tasks.values())]
    return bool(scores.tasks) and all(math.isfinite(v) for v in values)


def _pct(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def judge(comparison: Comparison, policy: PromotionConfig, kind: str) -> tuple[Outcome, list[str]]:
    """The outcome of a comparison under the policy, and its reasons (with the numbers)."""
    bar = policy.min_improvement
    avg = comparison.average
    where = (
        f"average gain over {kind} {avg.label()} ({_pct(comparison.confidence)} interval, "
        f"{comparison.paired_documents} paired documents)"
    )
    regressed, unsure = [], []
    if policy.max_task_regression is not None:
        limit = policy.max_task_regression
        for task, iv in comparison.tasks.items():
            if -iv.high > limit:
                regressed.append(
                    f"task {task} regressed: gain {iv.label()} is below -{limit:.2f} even at "
                    "the interval's upper bound"
                )
            elif -iv.low > limit:
                unsure.append(
                    f"task {task} may have regressed by more than {limit:.2f}: gain {iv.label()}"
                )
    if avg.high <= bar:
        return "not_better", [f"{where}: not above {bar:+.2f}", *regressed]
    if regressed:
        return "not_better", regressed
    if comparison.single_document_leaves:
        unsure.append(
            f"{comparison.single_document_leaves} task(s) have a single paired document, whose "
            "spread cannot be estimated: evaluate at least 2 documents a task (eval.limit)"
        )
    if avg.low > bar and not unsure:
        return "better", [f"{where}: above {bar:+.2f} at the lower bound"]
    why = [f"{where}: the interval straddles {bar:+.2f}"] if avg.low <= bar else []
    return "inconclusive", why + unsure


def decide(
    candidate: EvalResult,
    reference: EvalResult | None,
    policy: PromotionConfig,
    suite: Suite,
    reference_kind: Literal["champion", "base"] = "champion",
    contamination_clean: bool = True,
) -> Decision:
    """Decide whether `candidate` replaces `reference` under `policy`; return the Decision.

    Blocked (whatever the scores): scores missing or not finite; training data that failed
    decontamination; the two measured differently; documents that cannot be paired. With no
    reference at all the candidate is promoted (first). Otherwise the paired comparison
    decides: better (promoted), not better, or inconclusive.
    """
    kind = reference_kind
    if not _finite(candidate):
        reasons = ["candidate scores are missing or not finite numbers"]
        return Decision(promote=False, outcome="blocked", reference=kind, reasons=reasons)
    blocked: list[str] = []
    if not contamination_clean:
        blocked.append("training data failed decontamination against the evaluation suite")
    if reference is None:
        if blocked:
            return Decision(promote=False, outcome="blocked", reference="none", reasons=blocked)
        first = ["no champion and no reference scores: first model"]
        return Decision(promote=True, outcome="first", reference="none", reasons=first)
    delta = candidate.average - reference.average
    if reference.measurement != candidate.measurement:
        blocked.append(
            f"reference measured differently ({reference.measurement.label()}) than the "
            f"candidate ({candidate.measurement.label()}); re-evaluate the reference"
        )
    if blocked:
        return Decision(
            promote=False, outcome="blocked", reference=kind, delta=delta, reasons=blocked
        )
    try:
        comparison = compare(
            candidate,
            reference,
            suite,
            confidence=policy.confidence,
            resamples=policy.resamples,
            seed=policy.seed,
        )
    except ComparisonError as exc:
        reasons = [f"cannot compare document by document: {exc}"]
        return Decision(
            promote=False, outcome="blocked", reference=kind, delta=delta, reasons=reasons
        )
    outcome, reasons = judge(comparison, policy, kind)
    return Decision(
        promote=outcome == "better",
        outcome=outcome,
        reference=kind,
        delta=comparison.average.gain,
        comparison=comparison,
        reasons=reasons,
    )


def recheck(
    candidate: EvalResult,
    decided_against: str | None,
    current_version: str | None,
    current_result: EvalResult | None,
    policy: PromotionConfig,
    suite: Suite,
    contamination_clean: bool = True,
) -> tuple[bool, str]:
    """Re-decide under the promotion lock, against the champion as it is now.

    `decided_against` is the champion version the decision was made against (None: the base
    model, no champion then). The decision stands when that champion is still in place or there
    is none; when another pipeline moved the alias meanwhile, the candidate must be better than
    the new champion by the same paired test, on that champion's per-document results measured
    the same way (`current_result`, from the evaluation cache), else it is not promoted.
    Returns (promote, reason).
    """
    if current_version is None:
        return True, "no champion at promotion time"
    if current_version == decided_against:
        return True, f"version {current_version} is still the champion"
    moved = f"the champion moved to version {current_version} during this run"
    if current_result is None:
        return False, (
            f"{moved} and its per-document results measured this way are not in the "
            "evaluation cache; rerun to compare against it"
        )
    again = decide(
        candidate,
        current_result,
        policy,
        suite,
        reference_kind="champion",
        contamination_clean=contamination_clean,
    )
    return again.promote, f"{moved}: " + "; ".join(again.reasons)
