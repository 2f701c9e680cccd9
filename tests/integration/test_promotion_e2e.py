"""The paired decision through the whole flow (real Prefect server, torchrun, lm-eval on the
tiny model): a candidate that beats the champion on the point estimate by one document is
inconclusive, not promoted; with escalation configured, both models are evaluated at the next
limit on the documents not yet scored only, and the decision, still inconclusive, says so with
its interval. Starts: Prefect server (session fixture), torchrun (2 processes, gloo).

The champion is the first run's candidate (same weights, downloaded from the registry when it
must be evaluated), planted with a cached evaluation one TruthfulQA document worse than the
candidate's, so the two differ on exactly that document.
"""

from __future__ import annotations

import pytest

from climb.config import load_config
from climb.evaluate.cache import cache_put
from climb.evaluate.runner import cached_result, evaluation_key
from climb.records import DocResult, ModelRef
from climb.registry import tags as T
from climb.registry.tracking import client_for
from climb.state import StateDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def lower_one_document(docs: list[DocResult], metric: str) -> list[DocResult]:
    first, *rest = docs
    value = first.values[metric]
    assert isinstance(value, float) and value > 0  # mc2: probability mass on true answers
    return [first.model_copy(update={"values": {metric: value / 2}}), *rest]


def test_inconclusive_gain_is_not_promoted_and_escalates_on_new_documents_only(
    prefect_api: str, tiny_experiment
) -> None:
    from flows.pipeline import leaderboard_pipeline

    config = tiny_experiment(
        "escalate",
        eval={"limit": 4, "batch_size": 8},
        promotion={"registered_model": "esc-model", "escalate": [6], "resamples": 1000},
        publish={"enabled": True, "mode": "dry-run", "repo_id": "org/esc"},
    )
    first = leaderboard_pipeline(str(config), ["promotion.escalate=[]"])  # limit 4 only
    cfg = load_config(config)
    state = StateDir.at(cfg.state_dir)
    candidate_ref = ModelRef(path="", name="c", digest=first.candidate.digest)
    measured = cached_result(candidate_ref, cfg.eval, state)
    assert measured is not None and measured.limit == 4

    # The first run's candidate becomes the champion, one TruthfulQA document worse.
    client = client_for(cfg.tracking.uri or "")
    version = first.release.version
    planted = "planted-champion"
    client.set_model_version_tag("esc-model", version, T.WEIGHTS_DIGEST, planted)
    client.set_registered_model_alias("esc-model", "champion", version)
    truthful = measured.tasks["truthfulqa_mc2"]
    leaf = truthful.leaves[0]
    lowered = lower_one_document(measured.documents[leaf], truthful.metric)
    worse = measured.model_copy(
        update={
            "documents": {**measured.documents, leaf: lowered},
            "model": measured.model.model_copy(update={"digest": planted}),
        }
    )
    key = evaluation_key(ModelRef(path="", name="p", digest=planted), cfg.eval)
    cache_put(state.eval_cache, key, worse)

    second = leaderboard_pipeline(str(config), [])
    assert second.candidate.digest == first.candidate.digest  # same weights: cache hit at 4
    assert (second.reference_kind, second.reference_version) == ("champion", version)
    decision = second.decision
    assert decision.outcome == "inconclusive" and decision.promote is False
    assert decision.comparison is not None
    avg = decision.comparison.average
    assert avg.gain > 0 and avg.low <= 0 < avg.high  # wins on the point estimate only
    assert "straddles +0.00" in decision.reasons[0] and avg.label() in decision.reasons[0]
    assert second.release.promoted is False
    assert str(client.get_model_version_by_alias("esc-model", "challenger").version) == (
        second.release.version
    )
    # One escalation step, to limit 6: ARC, HellaSwag and TruthfulQA gain documents 4 and 5
    # (MMLU's smoke subjects have 3), for each model; nothing scored at 4 was scored again.
    (step,) = second.escalation
    assert step.limit == 6 and step.outcome == "inconclusive"
    assert step.candidate_documents == step.reference_documents == 6
    assert second.candidate_result.limit == 6
    assert second.candidate_result.documents_scored == measured.documents_scored + 6
    assert decision.comparison.paired_documents == second.candidate_result.documents_scored
